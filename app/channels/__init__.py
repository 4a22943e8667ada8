"""Feature-phone channels (SMS keywords, USSD menus): text rules shared by every gateway."""
