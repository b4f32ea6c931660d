"""A one-section app for the regularisation section's AppTest (not a test module): the section
alone, as views/knobs/page.py calls it, without the page's other four sections."""

from views.knobs.regularise import regularisation_section

regularisation_section()
