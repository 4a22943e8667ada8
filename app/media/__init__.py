"""Resumable media uploads (tus 1.0), content-addressed storage and household links."""
