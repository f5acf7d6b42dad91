"""SMTP connection settings, handed to the `Mailer` by whoever builds it."""

from __future__ import annotations

from dataclasses import dataclass, field

from modules.email._validation import check_header_text

SECURITY_MODES = ("starttls", "tls", "none")


@dataclass(frozen=True)
class SmtpConfig:  # pylint: disable=too-many-instance-attributes  # one attribute per setting
    """Where and how to hand mail over. The password never shows in `repr()`.

    `security`: "starttls" (plain connection upgraded with STARTTLS, refused
    if the server does not offer it), "tls" (TLS from the first byte, usually
    port 465) or "none" (plain text; for a relay on localhost only).
    """

    host: str
    port: int = 587
    username: str = ""
    password: str = field(default="", repr=False)
    security: str = "starttls"
    from_address: str = "switchboard@localhost"
    timeout: float = 10.0

    def __post_init__(self) -> None:
        if not self.host or not isinstance(self.host, str):
            raise ValueError("SMTP host is required")
        if isinstance(self.port, bool) or not isinstance(self.port, int):
            raise ValueError("SMTP port must be a whole number")
        if not 0 < self.port < 65536:
            raise ValueError(f"SMTP port {self.port} is out of range (1-65535)")
        if self.security not in SECURITY_MODES:
            raise ValueError(
                f"SMTP security {self.security!r} is not one of {', '.join(SECURITY_MODES)}"
            )
        if self.timeout <= 0:
            raise ValueError("SMTP timeout must be more than 0 seconds")
        check_header_text(self.from_address, "from address")
        if "@" not in self.from_address:
            raise ValueError(f"from address {self.from_address!r} has no '@'")
