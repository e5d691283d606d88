"""The sandbox's default ports, apart from the fake providers so the CLI can name them cheaply."""

DEFAULT_PORT = 12111  # payments, SMS and steering over HTTP
DEFAULT_SMTP_PORT = 12125  # the SMTP sink
