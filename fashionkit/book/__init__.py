"""The book: figures, page tables and sentences, fonts, cell tags and the run-time pages.

* ``style``: the figures' style, Korean font, colours and photo grids shared by every chapter;
* ``data_figures``, ``model_figures``, ``outfit_figures``: the figures of chapters 1-2, 3-6 and 7;
* ``tables``: how a number is written (percentages, intervals, probabilities) and the styled table of a page;
* ``report_tables``, ``aims_table``, ``error_tables``, ``outfit_tables``: chapter 5's test report and its
  sentences, the aims beside the results, chapter 6's gallery tables, chapter 7's recommendation table;
* ``outfit_map``: chapter 7's map to explore (Bokeh, its library and thumbnails inside the page);
* ``fonts``: the bundled Korean web font; ``tags``: the cell tags that hide set-up code;
  ``pages``: the run times and environment filled into the book's pages.

May import: every wing but ``serve``.  Editing ``tags`` or ``pages`` reruns no notebook.
"""
