"""Traces → plotly figures. Imports engine types, never streamlit."""
