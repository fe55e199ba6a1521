"""The one error type of the contract layer: a stable reason code plus a message."""


class ContractViolation(ValueError):
    """A record that breaks the contract. ``reason`` is a stable code (docs/data-contract.md)."""

    def __init__(self, reason: str, message: str, stage: str = "validate"):
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
        self.stage = stage
