"""Minimal SVG charts (no matplotlib): points with error bars per category, scatter, lines."""
import math
from xml.sax.saxutils import escape

W, H = 640, 360
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 40, 90
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf"]


class Chart:
    def __init__(self, title, xlabel, ylabel, ylim, width=W, height=H, bottom=BOTTOM):
        self.w, self.h, self.bottom = width, height, bottom
        self.y0, self.y1 = ylim
        self.parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'font-family="sans-serif" font-size="12">',
            f'<rect width="{width}" height="{height}" fill="white"/>',
            f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">{escape(title)}</text>',
            f'<text x="{width / 2}" y="{height - 8}" text-anchor="middle">{escape(xlabel)}</text>',
            f'<text x="16" y="{(TOP + height - bottom) / 2}" text-anchor="middle" '
            f'transform="rotate(-90 16 {(TOP + height - bottom) / 2})">{escape(ylabel)}</text>',
        ]
        self._y_axis()

    def py(self, v):
        span = self.y1 - self.y0
        return TOP + (self.h - self.bottom - TOP) * (1 - (v - self.y0) / span)

    def _y_axis(self):
        for v in nice_ticks(self.y0, self.y1):
            y = self.py(v)
            self.parts.append(f'<line x1="{LEFT}" x2="{self.w - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                              f'stroke="#ddd"/>')
            self.parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{fmt(v)}</text>')
        self.parts.append(f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{self.h - self.bottom}" '
                          f'stroke="black"/>')

    def add(self, s):
        self.parts.append(s)

    def legend(self, items):
        x = LEFT + 10
        for i, (label, color) in enumerate(items):
            y = TOP + 8 + 16 * i
            self.parts.append(f'<circle cx="{x}" cy="{y}" r="4" fill="{color}"/>')
            self.parts.append(f'<text x="{x + 10}" y="{y + 4}">{escape(label)}</text>')

    def svg(self):
        return "\n".join(self.parts + ["</svg>\n"])


def nice_ticks(lo, hi, n=5):
    step = 10 ** math.floor(math.log10((hi - lo) / n))
    for m in (1, 2, 5, 10):
        if (hi - lo) / (step * m) <= n:
            step *= m
            break
    v = math.ceil(lo / step) * step
    out = []
    while v <= hi + 1e-12:
        out.append(round(v, 10))
        v += step
    return out


def fmt(v):
    return f"{v:g}"


def category_points(title, ylabel, categories, series, ylim, hlines=()):
    """series: [(label, color, [[values of seed...] per category])]; mean marker + seed dots."""
    c = Chart(title, "", ylabel, ylim, width=max(W, 70 * len(categories) + LEFT + RIGHT))
    n = len(categories)
    span = c.w - LEFT - RIGHT
    for y, label in hlines:
        yy = c.py(y)
        c.add(f'<line x1="{LEFT}" x2="{c.w - RIGHT}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#888" '
              f'stroke-dasharray="4 3"/><text x="{c.w - RIGHT - 4}" y="{yy - 4:.1f}" '
              f'text-anchor="end" fill="#555">{escape(label)}</text>')
    for i, name in enumerate(categories):
        x = LEFT + span * (i + 0.5) / n
        c.add(f'<text x="{x:.1f}" y="{c.h - c.bottom + 14}" text-anchor="end" '
              f'transform="rotate(-35 {x:.1f} {c.h - c.bottom + 14})">{escape(name)}</text>')
        for k, (label, color, values) in enumerate(series):
            xs = x + (k - (len(series) - 1) / 2) * 12
            vals = [v for v in values[i] if v is not None]
            if not vals:
                continue
            lo, hi = min(vals), max(vals)
            c.add(f'<line x1="{xs:.1f}" x2="{xs:.1f}" y1="{c.py(lo):.1f}" y2="{c.py(hi):.1f}" '
                  f'stroke="{color}" stroke-width="2"/>')
            for v in vals:
                c.add(f'<circle cx="{xs:.1f}" cy="{c.py(v):.1f}" r="2.5" fill="{color}" opacity="0.6"/>')
            m = sum(vals) / len(vals)
            c.add(f'<rect x="{xs - 4:.1f}" y="{c.py(m) - 1.5:.1f}" width="8" height="3" fill="{color}"/>')
    c.legend([(label, color) for label, color, _ in series])
    return c.svg()


def scatter(title, xlabel, ylabel, groups, xlim, ylim, lines=()):
    """groups: [(label, color, xs, ys)]; lines: [(label, color, xs, ys)] drawn as polylines."""
    c = Chart(title, xlabel, ylabel, ylim, bottom=50)
    x0, x1 = xlim
    span = c.w - LEFT - RIGHT

    def px(v):
        return LEFT + span * (v - x0) / (x1 - x0)

    for v in nice_ticks(x0, x1):
        c.add(f'<text x="{px(v):.1f}" y="{c.h - c.bottom + 16}" text-anchor="middle">{fmt(v)}</text>')
    c.add(f'<line x1="{LEFT}" x2="{c.w - RIGHT}" y1="{c.h - c.bottom}" y2="{c.h - c.bottom}" stroke="black"/>')
    for _, color, xs, ys in groups:
        for x, y in zip(xs, ys):
            if y0_ok(y, c):
                c.add(f'<circle cx="{px(x):.1f}" cy="{c.py(y):.1f}" r="1.6" fill="{color}" opacity="0.35"/>')
    for _, color, xs, ys in lines:
        pts = " ".join(f"{px(x):.1f},{c.py(y):.1f}" for x, y in zip(xs, ys))
        c.add(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2.5"/>')
    c.legend([(label, color) for label, color, *_ in list(groups) + list(lines)])
    return c.svg()


def y0_ok(y, c):
    return c.y0 <= y <= c.y1


def lines(title, xlabel, ylabel, series, xlim, ylim, logx=False, hlines=()):
    """series: [(label, color, xs, ys)] polylines with markers; optional log x axis."""
    c = Chart(title, xlabel, ylabel, ylim, bottom=50)
    x0, x1 = xlim
    t = (lambda v: math.log10(v)) if logx else (lambda v: v)
    span = c.w - LEFT - RIGHT

    def px(v):
        return LEFT + span * (t(v) - t(x0)) / (t(x1) - t(x0))

    ticks = [v for v in (1, 2, 4, 8, 16, 32, 64) if x0 <= v <= x1] if logx else nice_ticks(x0, x1)
    for v in ticks:
        c.add(f'<text x="{px(v):.1f}" y="{c.h - c.bottom + 16}" text-anchor="middle">{fmt(v)}</text>')
    c.add(f'<line x1="{LEFT}" x2="{c.w - RIGHT}" y1="{c.h - c.bottom}" y2="{c.h - c.bottom}" stroke="black"/>')
    for y, label in hlines:
        c.add(f'<line x1="{LEFT}" x2="{c.w - RIGHT}" y1="{c.py(y):.1f}" y2="{c.py(y):.1f}" '
              f'stroke="#888" stroke-dasharray="4 3"/><text x="{c.w - RIGHT - 4}" y="{c.py(y) - 4:.1f}" '
              f'text-anchor="end" fill="#555">{escape(label)}</text>')
    for _, color, xs, ys in series:
        pts = " ".join(f"{px(x):.1f},{c.py(y):.1f}" for x, y in zip(xs, ys))
        c.add(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2"/>')
        if len(xs) <= 12:
            for x, y in zip(xs, ys):
                c.add(f'<circle cx="{px(x):.1f}" cy="{c.py(y):.1f}" r="3" fill="{color}"/>')
    c.legend([(label, color) for label, color, *_ in series])
    return c.svg()
