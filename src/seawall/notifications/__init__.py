"""Notifications: messages to users, sent only from job handlers."""
