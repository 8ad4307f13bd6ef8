"""Monitored people: their DJEN (Comunica PJe) checks, the publications that name them, CSV import and export."""
