"""Libraries: the registration contract, the library manager and the one
invoke path for capabilities. Import from the submodules (`contract`,
`manager`, `context`...); this package imports nothing itself, so the
subprocess worker starts fast."""
