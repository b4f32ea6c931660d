"""Streamlit building blocks shared by the pages (language, digit input, code, checks)."""
