// Appended to a copy of an rflow page by report_browser_e2e.cpp and run by headless Chromium:
// checks what a reader would otherwise have to spot by eye and writes one line per problem into
// a <pre> with id rflow-check (empty when the page is clean), which --dump-dom hands back to the test.
//  - every legend entry has marks drawn in its colour inside the plot (a listed series is visible);
//  - no text sticks out of its figure, nor legend text out of its legend box;
//  - every figure is drawn at the same scale (lettering the same size in every figure);
//  - the page does not scroll sideways.
(function () {
  const problems = [];
  const figures = Array.from(document.querySelectorAll('figure > svg'));
  const name = (svg) => {
    const t = svg.querySelector(':scope > text[font-weight="bold"]');
    const cap = svg.parentElement.querySelector('figcaption');
    return (t ? t.textContent : '') + (cap ? ' [' + cap.textContent + ']' : '');
  };
  const inside = (a, b, slack) =>
    a.left >= b.left - slack && a.right <= b.right + slack && a.top >= b.top - slack && a.bottom <= b.bottom + slack;
  const area = (r) => r.width > 0.5 || r.height > 0.5;
  const scales = [];
  figures.forEach((svg) => {
    const box = svg.getBoundingClientRect();
    scales.push(box.width / svg.width.baseVal.value);
    // Marks: paths, polylines, lines and circles that are not part of a legend.
    const marks = Array.from(svg.querySelectorAll('path, polyline, circle, line')).filter(
      (m) => !m.closest('.legend') && area(m.getBoundingClientRect()));
    const colorOf = (m) => {
      const own = (a) => m.getAttribute(a);
      const group = m.parentElement;
      return [own('stroke'), own('fill'), group && group.getAttribute('fill'), group && group.getAttribute('stroke')];
    };
    svg.querySelectorAll('.legend .entry').forEach((entry) => {
      const color = entry.getAttribute('data-color');
      const label = entry.textContent;
      if (!marks.some((m) => colorOf(m).includes(color) && inside(m.getBoundingClientRect(), box, 2)))
        problems.push('legend entry "' + label + '" has nothing drawn in ' + color + ' in ' + name(svg));
    });
    svg.querySelectorAll('text').forEach((t) => {
      const r = t.getBoundingClientRect();
      if (!inside(r, box, 1)) problems.push('text "' + t.textContent + '" sticks out of ' + name(svg));
    });
    svg.querySelectorAll('.legend').forEach((legend) => {
      const frame = legend.querySelector(':scope > rect');
      if (!frame) return;
      const fb = frame.getBoundingClientRect();
      legend.querySelectorAll('text').forEach((t) => {
        if (!inside(t.getBoundingClientRect(), fb, 1))
          problems.push('legend text "' + t.textContent + '" sticks out of its box in ' + name(svg));
      });
    });
  });
  if (scales.length) {
    const lo = Math.min(...scales), hi = Math.max(...scales);
    if (hi > lo * 1.02) problems.push('figures drawn at different scales: ' + lo.toFixed(3) + ' to ' + hi.toFixed(3));
  }
  if (document.documentElement.scrollWidth > window.innerWidth + 1)
    problems.push('the page scrolls sideways: ' + document.documentElement.scrollWidth + ' px wide in a ' +
                  window.innerWidth + ' px window');
  const out = document.createElement('pre');
  out.id = 'rflow-check';
  out.setAttribute('data-figures', String(figures.length));
  out.textContent = problems.join('\n');
  document.body.appendChild(out);
})();
