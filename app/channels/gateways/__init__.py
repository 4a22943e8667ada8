"""Gateway adapters: each file turns one gateway convention into the channel service's
``InboundSms`` / ``UssdRequest`` and the answer back, behind an authentication dependency."""
