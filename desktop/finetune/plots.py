"""The job's pictures, drawn with pyqtgraph: the loss curves with the learning rate, and the
confusion matrix of a classifier.

pyqtgraph takes a second to import, so only the job view imports this module, when a job is shown.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor, QFont, QFontMetrics

TRAIN_COLOUR = "#e8743b"
EVAL_COLOUR = "#2f6fb3"
LR_COLOUR = "#6b7280"

pg.setConfigOptions(antialias=True, background="w", foreground="#333333")


class LossPlot(pg.GraphicsLayoutWidget):
    """Training and validation loss over steps, and the learning rate below on the same axis."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumHeight(260)
        self.loss = self.addPlot(row=0, col=0)
        self.loss.setLabel("left", "loss")
        self.loss.getAxis("left").enableAutoSIPrefix(False)
        self.loss.showGrid(x=True, y=True, alpha=0.25)
        self.loss.addLegend(offset=(-10, 10))
        self.train_curve = self.loss.plot([], [], name="training", pen=pg.mkPen(TRAIN_COLOUR, width=2))
        self.eval_curve = self.loss.plot(
            [], [], name="validation", pen=pg.mkPen(EVAL_COLOUR, width=2),
            symbol="o", symbolSize=7, symbolBrush=EVAL_COLOUR, symbolPen=None,
        )
        self.lr = self.addPlot(row=1, col=0)
        self.lr.setLabel("left", "lr")
        self.lr.setLabel("bottom", "step")
        self.lr.showGrid(x=True, y=True, alpha=0.25)
        self.lr.setXLink(self.loss)
        self.lr.getAxis("left").enableAutoSIPrefix(False)
        self.lr_curve = self.lr.plot([], [], pen=pg.mkPen(LR_COLOUR, width=1.5))
        for plot in (self.loss, self.lr):  # the same axis width keeps the two step axes aligned
            plot.getAxis("left").setWidth(64)
        self.ci.layout.setRowStretchFactor(0, 3)
        self.ci.layout.setRowStretchFactor(1, 1)

    def show_state(self, state) -> None:
        """Redraw from a JobState (its lists of steps and values)."""
        # Dots while there are few points, so the first steps show before there is a line to draw.
        few = len(state.train_steps) < 40
        self.train_curve.setData(state.train_steps, state.train_loss, symbol="o" if few else None, symbolSize=5,
                                 symbolBrush=TRAIN_COLOUR, symbolPen=None)
        self.eval_curve.setData(state.eval_steps, state.eval_loss)
        self.lr_curve.setData(state.train_steps, state.learning_rates, symbol="o" if few else None, symbolSize=4,
                              symbolBrush=LR_COLOUR, symbolPen=None)

    def point_counts(self) -> tuple[int, int]:
        """How many training and validation points the curves hold (for checks and tests)."""
        train = self.train_curve.getData()[0]
        evals = self.eval_curve.getData()[0]
        return (0 if train is None else len(train)), (0 if evals is None else len(evals))


class ConfusionMatrixView(pg.PlotWidget):
    """A heat map of true label (rows) against predicted label (columns), with the counts written in."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumSize(320, 280)
        self.image = pg.ImageItem()
        self.addItem(self.image)
        self.getPlotItem().setAspectLocked(True)
        self.getPlotItem().hideButtons()
        self.setMouseEnabled(x=False, y=False)
        self.setLabel("left", "true label")
        self.setLabel("bottom", "predicted label")
        self.texts: list[pg.TextItem] = []
        self.matrix = np.zeros((0, 0))
        self.labels: list[str] = []

    def show_matrix(self, matrix, labels: list[str]) -> None:
        self.matrix = np.asarray(matrix, dtype=float)
        self.labels = list(labels)
        for text in self.texts:
            self.removeItem(text)
        self.texts = []
        n = len(self.labels)
        if n == 0 or self.matrix.shape != (n, n):
            self.image.clear()
            return
        # Colour by each true label's share, so a rare label's mistakes are as visible as a common one's.
        totals = self.matrix.sum(axis=1, keepdims=True)
        shares = np.divide(self.matrix, totals, out=np.zeros_like(self.matrix), where=totals > 0)
        colours = pg.ColorMap([0.0, 1.0], [QColor("#f7f7f7"), QColor("#e8743b")])
        self.image.setLookupTable(colours.getLookupTable(0.0, 1.0, 256))
        # ImageItem takes [x, y] with y growing upwards: flip the rows so the first label is on top.
        self.image.setImage(shares[::-1].T, levels=(0.0, 1.0))
        font = QFont()
        font.setPointSize(10)
        for row in range(n):
            for col in range(n):
                colour = "#ffffff" if shares[row, col] > 0.6 else "#222222"
                text = pg.TextItem(f"{int(self.matrix[row, col])}", color=colour, anchor=(0.5, 0.5))
                text.setFont(font)
                text.setPos(col + 0.5, n - row - 0.5)
                self.addItem(text)
                self.texts.append(text)
        self.getAxis("bottom").setTicks([[(i + 0.5, self._short(label)) for i, label in enumerate(self.labels)]])
        left = self.getAxis("left")
        left.setTicks([[(n - i - 0.5, self._short(label)) for i, label in enumerate(self.labels)]])
        # The axis does not grow for its tick texts by itself, and hides the ones that do not fit.
        widest = max(QFontMetrics(left.style.get("tickFont") or QFont()).horizontalAdvance(self._short(label))
                     for label in self.labels)
        left.setWidth(widest + 56)
        self.getPlotItem().setRange(xRange=(0, n), yRange=(0, n), padding=0.02)

    @staticmethod
    def _short(label: str, width: int = 12) -> str:
        return label if len(label) <= width else label[: width - 1] + "…"
