"""Notifications service: French e-mails to suppliers and to the GRD team, sent exactly once through SMTP."""
