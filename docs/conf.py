"""Sphinx's settings for the course site (`make site`; docs/build.py writes the pages into _site/src/)."""

from pathlib import Path

import course_kit

ROOT = Path(__file__).resolve().parents[1]

project = 'course_kit'
author = 'course_kit developers'
release = course_kit.__version__
extensions = ['myst_nb']
exclude_patterns = ['**.ipynb_checkpoints']

# The lessons were run by docs/build.py (with their exercises stripped after): Sphinx only reads them.
nb_execution_mode = 'off'
myst_enable_extensions = ['colon_fence', 'dollarmath']
myst_heading_anchors = 3
# a lesson's headings may skip a level; a signature with a class in a default is not quite Python
suppress_warnings = ['myst.header', 'misc.highlighting_failure']

html_theme = 'sphinx_book_theme'
html_title = f'course_kit {release}'
html_static_path = ['_static']
html_css_files = ['course.css']
html_extra_path = [str(ROOT / '_site' / 'extra')]  # the reports' own pages and the lessons as markdown
html_theme_options = {
    'repository_url': 'https://github.com/course-kit/course_kit',
    'use_repository_button': False,  # offline: no icons or buttons that need the network
    'show_toc_level': 2,
    'use_download_button': False,  # the sources are not copied (html_copy_source)
}
html_show_sourcelink = False
html_copy_source = False
