#!/usr/bin/env python3
"""The shared figure style (sqrtdk/style.py): a figure's suptitle, wrapped to several lines, is drawn clear
of its panels and their titles, whether the figure asked for a layout or not.

    PYTHONPATH=experiments $PY tests/experiments/sqrtdk/test_style.py   (ctest: py.style)
"""

import os
import tempfile
import unittest

from sqrtdk import style  # first: it chooses the backend and the layout of every figure

import matplotlib  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

LONG_TITLE = ("teacher: learning-rate sensitivity (Wortsman et al. 2023); 5 seeds per point; bands: 95% intervals over "
              "seeds (geometric for losses, norms and logits; see summary.md) and a few more words to wrap")


def overlaps(a, b):
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


class SuptitleClearOfPanels(unittest.TestCase):
    def check(self, make_figure):
        fig, axes = make_figure()
        for i, ax in enumerate(axes.flat):
            ax.plot(np.arange(10), np.arange(10) ** 2)
            ax.set_title(f"$d_k$ = {4 ** (i + 1)}")
            ax.set_xlabel("learning rate")
        fig.suptitle(LONG_TITLE + "\nsecond line of the title", fontsize=9)
        with tempfile.TemporaryDirectory() as tmp:
            paths = style.save(fig, tmp, "figure")
            self.assertTrue(all(os.path.getsize(p) > 0 for p in paths))
        fig.canvas.draw()  # the layout of the saved figure, drawn again to measure it
        renderer = fig.canvas.get_renderer()
        title = fig._suptitle.get_window_extent(renderer)
        self.assertGreaterEqual(title.height, 2 * fig._suptitle.get_fontsize())  # wrapped: two lines or more
        for ax in axes.flat:
            for name, box in (("panel title", ax.title.get_window_extent(renderer)),
                              ("panel", ax.get_window_extent(renderer))):
                self.assertFalse(overlaps(title, box), f"the suptitle {title} overlaps a {name} {box}")

    def test_figure_made_without_a_layout(self):
        self.check(lambda: plt.subplots(1, 3, figsize=(13, 3.8), squeeze=False, sharey=True))

    def test_figure_made_outside_the_style(self):
        # Made where the style's default layout is not in force: style.save gives it one.
        def make():
            with matplotlib.rc_context({"figure.constrained_layout.use": False}):
                return plt.subplots(2, 2, figsize=(9, 6), squeeze=False)
        self.check(make)


if __name__ == "__main__":
    unittest.main()
