"""Waivers of an evidence-required item's check: ask, approve (a second person), withdraw."""
