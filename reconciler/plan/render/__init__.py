"""Renderers: a `Plan` becomes a string, and nothing else happens.

`text` (Terraform-like, with rich markup for colour), `markdown` (a pull-request comment),
and JSON, which is the plan file format itself (`plan.planfile`).
"""
