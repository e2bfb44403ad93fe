"""Figures and reports made from a trained model: the demo comparison, the demo summary, kernel sheets."""
