"use strict";
// The arcface-lab viewer. Reads the JSON in #report-data (see crates/viz/src/report) and draws,
// per panel, three stacked canvases: the margin geometry (vector), the points (one ImageData
// written pixel by pixel, which keeps 20,000 points well under a frame) and the centres and
// hover ring (vector). Nothing here loads anything from the network.
(function () {
  const D = JSON.parse(document.getElementById("report-data").textContent);

  // ---------- typed arrays from base64 ----------
  function buffer(b64) {
    const s = atob(b64);
    const u = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) u[i] = s.charCodeAt(i);
    return u.buffer;
  }
  const i16 = (b) => new Int16Array(buffer(b));
  const u16 = (b) => new Uint16Array(buffer(b));
  const i32 = (b) => new Int32Array(buffer(b));
  const f32 = (b) => new Float32Array(buffer(b));
  const u8 = (b) => new Uint8Array(buffer(b));

  const E = D.epochs.length;
  const C = D.classes.length;
  const V = D.view_dim;
  const SPLIT_TITLES = { train: "train", val: "val", held_out: "held-out identities" };
  const splits = D.splits.map((s) => ({
    name: s.name,
    count: s.count,
    labels: i32(s.labels),
    files: s.files,
    thumbs: s.thumbs ? i32(s.thumbs) : null,
  }));
  const lattice = D.lattice ? f32(D.lattice) : null;

  function rgb(hex) {
    return [parseInt(hex.slice(1, 3), 16), parseInt(hex.slice(3, 5), 16), parseInt(hex.slice(5, 7), 16)];
  }
  function packed(c, fade) {
    const t = fade || 0;
    const r = Math.round(c[0] + (255 - c[0]) * t);
    const g = Math.round(c[1] + (255 - c[1]) * t);
    const b = Math.round(c[2] + (255 - c[2]) * t);
    return ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0; // RGBA bytes, little-endian
  }
  const classRgb = D.colors.map(rgb);
  const heldRgb = D.held_out_colors.map(rgb);
  const colorsFront = { class: classRgb.map((c) => packed(c, 0)), held: heldRgb.map((c) => packed(c, 0)) };
  const colorsBack = { class: classRgb.map((c) => packed(c, 0.72)), held: heldRgb.map((c) => packed(c, 0.72)) };

  // ---------- state ----------
  const hasHeld = splits.some((s) => s.name === "held_out");
  const S = {
    epoch: E - 1,
    playing: false,
    show: { train: false, val: true, held_out: true },
    hidden: new Uint8Array(C),
    hiddenHeld: new Uint8Array(D.held_out_classes.length),
    centers: true,
    geometry: true,
    rot: [1, 0, 0, 0, 1, 0, 0, 0, 1],
    hover: null,
    // 3-D: "globe" (the sphere you turn) or "map" (the whole sphere on Hammer's equal-area map).
    view: "globe",
  };
  if (!splits.some((s) => s.name === "val")) S.show.train = true;
  // A default camera that does not look straight down an axis.
  function rotX(a) { const c = Math.cos(a), s = Math.sin(a); return [1, 0, 0, 0, c, -s, 0, s, c]; }
  function rotY(a) { const c = Math.cos(a), s = Math.sin(a); return [c, 0, s, 0, 1, 0, -s, 0, c]; }
  function mul(a, b) {
    const o = new Array(9);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) o[3 * i + j] = a[3 * i] * b[j] + a[3 * i + 1] * b[3 + j] + a[3 * i + 2] * b[6 + j];
    return o;
  }
  const HOME = mul(rotX(-0.45), rotY(0.6));
  if (V === 3) S.rot = HOME.slice();

  // ---------- header ----------
  const first = D.panels[0];
  const facts = [];
  facts.push(`${D.dim}-D embeddings`);
  facts.push(`${C} classes`);
  for (const s of splits) {
    facts.push(s.name === "held_out"
      ? `${s.count} held-out images of ${D.held_out_classes.length} unseen identities`
      : `${s.count} ${s.name}`);
  }
  facts.push(`${E} epochs`);
  if (D.panels.length === 1) facts.unshift(first.head);
  document.getElementById("subtitle").textContent = facts.join(" · ");
  if (D.projection) {
    const p = document.getElementById("projection");
    p.textContent = D.projection;
    p.hidden = false;
  }
  const noGeometry = D.panels.every((p) => !p.bands && !p.marks);
  if (noGeometry) document.getElementById("geometry-toggle").hidden = true;

  // ---------- panels ----------
  const panelsDiv = document.getElementById("panels");
  const cols = D.panels.length === 1 ? 1 : D.panels.length <= 4 ? 2 : 3;
  panelsDiv.style.gridTemplateColumns = `repeat(${cols}, max-content)`;
  const dpr = Math.max(1, Math.min(2, window.devicePixelRatio || 1));
  const avail = Math.max(260, Math.min(window.innerWidth - 420, 1100));
  const css = Math.floor(Math.max(240, Math.min(D.panels.length === 1 ? 640 : 420, (avail - 12 * (cols - 1)) / cols)));
  const W = Math.round(css * dpr);
  // The canvases' height: W for the circle and the globe, about half of it for the map (which
  // is twice as wide as tall); setView changes it.
  let H = W;
  const totalPoints = splits.reduce((n, s) => n + s.count, 0);

  const panels = D.panels.map((p, k) => {
    const div = document.createElement("div");
    div.className = "panel";
    div.style.width = css + "px";
    const h = document.createElement("h2");
    h.textContent = p.name;
    const headP = document.createElement("p");
    headP.className = "facts";
    headP.textContent = D.panels.length === 1 ? "" : p.head;
    const factsP = document.createElement("p");
    factsP.className = "facts";
    const stage = document.createElement("div");
    stage.className = "stage" + (V === 3 ? " sphere" : "");
    stage.style.width = stage.style.height = css + "px";
    const make = (cls) => {
      const c = document.createElement("canvas");
      c.width = c.height = W;
      c.style.width = c.style.height = css + "px";
      c.className = cls;
      stage.appendChild(c);
      return c;
    };
    const geo = make("geo"), pts = make("pts"), over = make("over");
    div.append(h, ...(D.panels.length === 1 ? [] : [headP]), factsP, stage);
    panelsDiv.appendChild(div);
    const points = {};
    const hover = {};
    for (const s of splits) {
      points[s.name] = i16(p.points[s.name]);
      if (p.hover && p.hover[s.name]) hover[s.name] = u16(p.hover[s.name]);
    }
    const image = pts.getContext("2d").createImageData(W, W);
    return {
      index: k,
      data: p,
      facts: factsP,
      stage,
      geo, pts, over,
      gctx: geo.getContext("2d"),
      pctx: pts.getContext("2d"),
      octx: over.getContext("2d"),
      image,
      pixels: new Uint32Array(image.data.buffer),
      points, hover,
      centers: f32(p.centers),
      bands: p.bands ? f32(p.bands) : null,
      marks: p.marks ? u8(p.marks) : null,
      arcs: p.arcs ? f32(p.arcs) : null,
      arcStarts: p.arc_starts ? i32(p.arc_starts) : null,
      // Screen positions of the drawn points, for hovering: [x, y] per row, NaN when hidden.
      screen: Object.fromEntries(splits.map((s) => [s.name, new Float32Array(2 * s.count)])),
      drawn: 0,
      metrics: metricsOf(p.metrics),
    };
  });

  function metricsOf(m) {
    const col = {};
    (m.columns || []).forEach((c, i) => (col[c] = i));
    const byEpoch = new Map();
    for (const r of m.rows || []) if (col.epoch !== undefined && r[col.epoch] !== null) byEpoch.set(r[col.epoch], r);
    return {
      has: (name) => col[name] !== undefined,
      at: (epoch, name) => {
        const r = byEpoch.get(epoch);
        return r && col[name] !== undefined ? r[col[name]] : null;
      },
      series: (name) => D.epochs.map((e) => {
        const r = byEpoch.get(e);
        return r && col[name] !== undefined ? r[col[name]] : null;
      }),
    };
  }

  // ---------- geometry of the picture ----------
  const CX = W / 2, CY = W / 2, R = W * 0.4;
  // The map: Hammer's projection as in crates/viz/src/hammer.rs, with the conventions of
  // map.rs (z is the pole; longitude from the central meridian D.map.centre_lon_deg, east to
  // the right), so that it is the frames' map. Half-width 2√2 K and half-height √2 K pixels.
  const SQRT2 = Math.SQRT2;
  const LON0 = D.map ? (D.map.centre_lon_deg * Math.PI) / 180 : 0;
  const K = (0.47 * W) / (2 * SQRT2);
  const MAP_H = Math.round(2 * SQRT2 * K + 0.04 * W);
  const MX = W / 2, MY = MAP_H / 2;
  const mapMode = () => V === 3 && S.view === "map";
  function lonLat(x, y, z) {
    // Longitude from the central meridian in [-π, π], latitude; null for a zero vector.
    const n = Math.hypot(x, y, z);
    if (!(n > 0)) return null;
    let lon = Math.atan2(y, x) - LON0;
    lon -= 2 * Math.PI * Math.floor((lon + Math.PI) / (2 * Math.PI));
    return [lon, Math.asin(Math.max(-1, Math.min(1, z / n)))];
  }
  function hammer(lon, lat) {
    const cl = Math.cos(lat);
    const d = Math.sqrt(Math.max(1e-300, 1 + cl * Math.cos(lon / 2)));
    return [(2 * SQRT2 * cl * Math.sin(lon / 2)) / d, (SQRT2 * Math.sin(lat)) / d];
  }
  const mapPixel = (h) => [MX + K * h[0], MY - K * h[1]];
  function mapLines(points) {
    // Screen polylines through `points` (unit vectors, [x, y, z] each, close together), cut
    // where they cross the seam (as map.rs's map_polylines): taken to the rim on one side and
    // picked up on the other, never drawn across the map.
    const lines = [];
    let cur = [];
    let last = null;
    for (const p of points) {
      const ll = lonLat(p[0], p[1], p[2]);
      if (!ll) continue;
      if (last && Math.abs(ll[0] - last[0]) > Math.PI) {
        const seam = ll[0] < last[0] ? Math.PI : -Math.PI;
        const unwrapped = ll[0] + (ll[0] < last[0] ? 2 * Math.PI : -2 * Math.PI);
        const t = (seam - last[0]) / (unwrapped - last[0]);
        const lat = last[1] + t * (ll[1] - last[1]);
        cur.push(mapPixel(hammer(seam, lat)));
        lines.push(cur);
        cur = [mapPixel(hammer(-seam, lat))];
      }
      cur.push(mapPixel(hammer(ll[0], ll[1])));
      last = ll;
    }
    lines.push(cur);
    return lines.filter((l) => l.length >= 2);
  }
  function strokeLines(g, lines) {
    g.beginPath();
    for (const l of lines) {
      g.moveTo(l[0][0], l[0][1]);
      for (let k = 1; k < l.length; k++) g.lineTo(l[k][0], l[k][1]);
    }
    g.stroke();
  }
  function jitter(i) {
    // Points spread a little outwards so that dense arcs stay readable (as in the frames).
    const f = (i * 0.6180339887) % 1;
    return 1 + 0.07 * f;
  }
  function project(x, y, z) {
    // View space of a unit vector: 2-D as is, 3-D rotated or on the map; returns [sx, sy, depth]
    // (the map hides nothing: depth 1).
    if (V === 2) return [CX + R * x, CY - R * y, 1];
    if (mapMode()) {
      const ll = lonLat(x, y, z);
      if (!ll) return [NaN, NaN, 1];
      const [sx, sy] = mapPixel(hammer(ll[0], ll[1]));
      return [sx, sy, 1];
    }
    const m = S.rot;
    const X = m[0] * x + m[1] * y + m[2] * z;
    const Y = m[3] * x + m[4] * y + m[5] * z;
    const Z = m[6] * x + m[7] * y + m[8] * z;
    return [CX + R * X, CY - R * Y, Z];
  }

  function drawMapGeometry(P) {
    const g = P.gctx;
    const e = S.epoch;
    g.clearRect(0, 0, W, H);
    // Parallels and meridians every 30°, then the rim.
    g.lineWidth = dpr;
    g.strokeStyle = "#e4e4e4";
    const grid = [];
    for (let lat = -60; lat <= 60; lat += 30) {
      const l = [];
      for (let k = 0; k <= 96; k++) l.push(mapPixel(hammer(-Math.PI + (2 * Math.PI * k) / 96, (lat * Math.PI) / 180)));
      grid.push(l);
    }
    for (let lon = -150; lon <= 150; lon += 30) {
      const l = [];
      for (let k = 0; k <= 48; k++) l.push(mapPixel(hammer((lon * Math.PI) / 180, -Math.PI / 2 + (Math.PI * k) / 48)));
      grid.push(l);
    }
    strokeLines(g, grid);
    if (S.geometry && P.marks && lattice) {
      // The margin bands: each lattice point in a band covers its share of the sphere, which
      // the equal-area map gives as a square of the same area everywhere.
      const n = lattice.length / 3;
      const base = e * n;
      // (The map stretches the lattice unevenly; squares half again as wide close the gaps.)
      const side = Math.max(1.5, 1.5 * Math.sqrt((4 * Math.PI * K * K) / n));
      g.fillStyle = "#e6e6e6";
      // Boundary marks (2) lie inside the band of a head with a margin: shaded with it, or the
      // band would have a seam of holes along each boundary.
      for (let k = 0; k < n; k++) {
        const m = P.marks[base + k];
        if (!(m === 1 || (m === 2 && P.data.banded))) continue;
        const [sx, sy] = project(lattice[3 * k], lattice[3 * k + 1], lattice[3 * k + 2]);
        g.fillRect(sx - side / 2, sy - side / 2, side, side);
      }
    }
    if (S.geometry && P.arcs && P.arcStarts) {
      // The decision boundaries: great-circle arcs, a point every degree.
      g.strokeStyle = "rgba(0,0,0,0.35)";
      g.lineWidth = dpr;
      const lines = [];
      for (let a = P.arcStarts[e]; a < P.arcStarts[e + 1]; a++) {
        const o = 7 * a;
        const angle = P.arcs[o + 6];
        const steps = Math.max(2, Math.ceil((angle * 180) / Math.PI));
        const pts = [];
        for (let k = 0; k <= steps; k++) {
          const t = (angle * k) / steps, c = Math.cos(t), s = Math.sin(t);
          pts.push([0, 1, 2].map((i) => c * P.arcs[o + i] + s * P.arcs[o + 3 + i]));
        }
        lines.push(...mapLines(pts));
      }
      strokeLines(g, lines);
    }
    g.strokeStyle = "#bbb";
    g.beginPath();
    g.ellipse(MX, MY, 2 * SQRT2 * K, SQRT2 * K, 0, 0, 2 * Math.PI);
    g.stroke();
  }

  function drawGeometry(P) {
    if (mapMode()) return drawMapGeometry(P);
    const g = P.gctx;
    const e = S.epoch;
    g.clearRect(0, 0, W, H);
    g.lineWidth = dpr;
    g.strokeStyle = "#bbb";
    g.beginPath();
    g.arc(CX, CY, R, 0, 2 * Math.PI);
    g.stroke();
    if (V === 3) {
      // The equator and a meridian of the rotated sphere, for orientation.
      g.strokeStyle = "#e4e4e4";
      for (const ring of [(t) => [Math.cos(t), Math.sin(t), 0], (t) => [Math.cos(t), 0, Math.sin(t)]]) {
        g.beginPath();
        for (let k = 0; k <= 96; k++) {
          const v = ring((k / 96) * 2 * Math.PI);
          const [sx, sy] = project(v[0], v[1], v[2]);
          if (k === 0) g.moveTo(sx, sy); else g.lineTo(sx, sy);
        }
        g.stroke();
      }
    }
    if (!S.geometry) return;
    if (P.bands && V === 2) {
      for (let k = 0; k < C; k++) {
        const a = P.bands[2 * (e * C + k)], hw = P.bands[2 * (e * C + k) + 1];
        if (!Number.isFinite(a)) continue;
        if (hw > 0) {
          g.fillStyle = "rgba(0,0,0,0.08)";
          g.beginPath();
          g.arc(CX, CY, R * 1.1, -(a - hw), -(a + hw), true);
          g.arc(CX, CY, R * 0.82, -(a + hw), -(a - hw), false);
          g.closePath();
          g.fill();
        }
        g.strokeStyle = "rgba(0,0,0,0.35)";
        g.beginPath();
        g.moveTo(CX + R * 0.25 * Math.cos(a), CY - R * 0.25 * Math.sin(a));
        g.lineTo(CX + R * 1.12 * Math.cos(a), CY - R * 1.12 * Math.sin(a));
        g.stroke();
      }
    }
    if (P.marks && lattice && V === 3) {
      const n = lattice.length / 3;
      const base = e * n;
      const s = 1.6 * dpr;
      for (let k = 0; k < n; k++) {
        const m = P.marks[base + k];
        if (!m) continue;
        const [sx, sy, z] = project(lattice[3 * k], lattice[3 * k + 1], lattice[3 * k + 2]);
        if (z < 0) continue;
        g.fillStyle = m === 2 ? "rgba(0,0,0,0.45)" : "rgba(0,0,0,0.12)";
        g.fillRect(sx - s / 2, sy - s / 2, s, s);
      }
    }
  }

  function drawPoints(P) {
    const px = P.pixels;
    px.fill(0);
    const e = S.epoch;
    const dot = Math.max(2, Math.round((totalPoints > 5000 ? 2 : 3) * dpr));
    let drawn = 0;
    // Back of the sphere first, then the front, so the front stays on top (the map has no back).
    const passes = V === 3 && !mapMode() ? [false, true] : [true];
    for (const s of splits) P.screen[s.name].fill(NaN);
    for (const front of passes) {
      for (const s of splits) {
        if (!S.show[s.name]) continue;
        const held = s.name === "held_out";
        const pts = P.points[s.name];
        const scr = P.screen[s.name];
        const hidden = held ? S.hiddenHeld : S.hidden;
        const palette = front ? (held ? colorsFront.held : colorsFront.class) : (held ? colorsBack.held : colorsBack.class);
        const off = e * s.count * V;
        for (let i = 0; i < s.count; i++) {
          const label = s.labels[i];
          if (hidden[label]) continue;
          const o = off + i * V;
          const x = pts[o] / 32767, y = pts[o + 1] / 32767, z = V === 3 ? pts[o + 2] / 32767 : 0;
          if (x === 0 && y === 0 && z === 0) continue;
          const j = jitter(i);
          const [sx, sy, depth] = project(x * j, y * j, z * j);
          if (V === 3 && (depth >= 0) !== front) continue;
          if (!Number.isFinite(sx)) continue;
          const color = palette[label % palette.length];
          const cx = Math.round(sx), cy = Math.round(sy);
          if (held) cross(px, cx, cy, dot + 1, color);
          else square(px, cx, cy, dot, color);
          scr[2 * i] = sx;
          scr[2 * i + 1] = sy;
          drawn++;
        }
      }
    }
    P.pctx.putImageData(P.image, 0, 0);
    P.drawn = drawn;
  }

  function square(px, cx, cy, size, color) {
    const h = size >> 1;
    const x0 = Math.max(0, cx - h), x1 = Math.min(W, cx - h + size);
    const y0 = Math.max(0, cy - h), y1 = Math.min(H, cy - h + size);
    for (let y = y0; y < y1; y++) {
      const row = y * W;
      for (let x = x0; x < x1; x++) px[row + x] = color;
    }
  }
  function cross(px, cx, cy, size, color) {
    // Held-out identities are drawn as small plus signs: they are not classes of the head.
    const h = size;
    for (let d = -h; d <= h; d++) {
      const x = cx + d, y = cy + d;
      if (x >= 0 && x < W && cy >= 0 && cy < H) px[cy * W + x] = color;
      if (y >= 0 && y < H && cx >= 0 && cx < W) px[y * W + cx] = color;
    }
  }

  function drawOverlay(P) {
    const o = P.octx;
    o.clearRect(0, 0, W, H);
    const e = S.epoch;
    if (S.centers && mapMode()) {
      // No origin on the map to draw rays from: each centre is a dot with a dark ring.
      o.lineWidth = 1.5 * dpr;
      o.strokeStyle = "#2d2d2d";
      for (let c = 0; c < C; c++) {
        if (S.hidden[c]) continue;
        const b = (e * C + c) * V;
        const [sx, sy] = project(P.centers[b], P.centers[b + 1], P.centers[b + 2]);
        if (!Number.isFinite(sx)) continue;
        o.fillStyle = D.colors[c];
        o.beginPath();
        o.arc(sx, sy, 4.5 * dpr, 0, 2 * Math.PI);
        o.fill();
        o.stroke();
      }
    } else if (S.centers) {
      o.lineWidth = 2 * dpr;
      for (let c = 0; c < C; c++) {
        if (S.hidden[c]) continue;
        const b = (e * C + c) * V;
        const x = P.centers[b], y = P.centers[b + 1], z = V === 3 ? P.centers[b + 2] : 0;
        if (x === 0 && y === 0 && z === 0) continue;
        const [sx, sy, depth] = project(x * 1.18, y * 1.18, z * 1.18);
        o.strokeStyle = D.colors[c];
        o.globalAlpha = depth >= 0 ? 0.95 : 0.35;
        o.setLineDash(depth >= 0 ? [] : [4 * dpr, 4 * dpr]);
        o.beginPath();
        o.moveTo(CX, CY);
        o.lineTo(sx, sy);
        o.stroke();
        o.setLineDash([]);
        o.fillStyle = D.colors[c];
        o.beginPath();
        o.arc(sx, sy, 3.5 * dpr, 0, 2 * Math.PI);
        o.fill();
      }
      o.globalAlpha = 1;
    }
    if (S.hover && S.hover.panel === P.index) {
      const scr = P.screen[S.hover.split];
      const sx = scr[2 * S.hover.row], sy = scr[2 * S.hover.row + 1];
      if (Number.isFinite(sx)) {
        o.strokeStyle = "#000";
        o.lineWidth = 1.5 * dpr;
        o.beginPath();
        o.arc(sx, sy, 7 * dpr, 0, 2 * Math.PI);
        o.stroke();
      }
    }
  }

  function panelFacts(P) {
    const e = D.epochs[S.epoch];
    const m = P.metrics;
    const parts = [];
    const pct = (v) => (v === null ? "–" : (100 * v).toFixed(1) + "%");
    const num = (v, d) => (v === null ? "–" : v.toFixed(d));
    if (m.has("val_loss")) parts.push(`val loss ${num(m.at(e, "val_loss"), 3)}`);
    if (m.has("val_acc")) parts.push(`val acc ${pct(m.at(e, "val_acc"))}`);
    if (m.has("val_angle_mean_deg")) parts.push(`mean angle ${num(m.at(e, "val_angle_mean_deg"), 1)}°`);
    if (m.has("center_angle_min_deg")) parts.push(`min centre gap ${num(m.at(e, "center_angle_min_deg"), 1)}°`);
    P.facts.textContent = parts.join(" · ");
  }

  let renders = 0;
  function render() {
    let drawn = 0;
    for (const P of panels) {
      drawGeometry(P);
      drawPoints(P);
      drawOverlay(P);
      panelFacts(P);
      drawn += P.drawn;
    }
    const epoch = D.epochs[S.epoch];
    document.getElementById("epoch-label").textContent = `epoch ${epoch} / ${D.epochs[E - 1]}`;
    slider.value = String(S.epoch);
    // Read back by the browser test and handy for scripting.
    panelsDiv.dataset.epoch = String(epoch);
    panelsDiv.dataset.points = String(drawn);
    panelsDiv.dataset.renders = String(++renders);
    drawCurveMarkers();
  }
  let pending = false;
  function requestRender() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      render();
    });
  }

  // ---------- controls ----------
  const slider = document.getElementById("epoch");
  slider.max = String(E - 1);
  slider.value = String(S.epoch);
  slider.addEventListener("input", () => {
    S.epoch = Number(slider.value);
    S.hover = null;
    hideTooltip();
    requestRender();
  });
  const playButton = document.getElementById("play");
  let playTimer = null;
  function setPlaying(on) {
    S.playing = on;
    playButton.innerHTML = on ? "&#10074;&#10074; pause" : "&#9654; play";
    if (playTimer) clearInterval(playTimer);
    playTimer = null;
    if (on) {
      if (S.epoch === E - 1) S.epoch = 0;
      requestRender();
      playTimer = setInterval(() => {
        if (S.epoch >= E - 1) {
          setPlaying(false);
          return;
        }
        S.epoch++;
        requestRender();
      }, Math.max(60, Math.min(400, 6000 / Math.max(1, E))));
    }
  }
  playButton.addEventListener("click", () => setPlaying(!S.playing));
  document.addEventListener("keydown", (ev) => {
    if (ev.target && ev.target.tagName === "INPUT" && ev.target.type !== "range") return;
    if (ev.key === " ") {
      ev.preventDefault();
      setPlaying(!S.playing);
    } else if ((ev.key === "ArrowRight" || ev.key === "ArrowLeft") && ev.target !== slider) {
      S.epoch = Math.max(0, Math.min(E - 1, S.epoch + (ev.key === "ArrowRight" ? 1 : -1)));
      requestRender();
    }
  });
  const toggles = document.getElementById("split-toggles");
  for (const s of splits) {
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.id = "split-" + s.name;
    box.checked = !!S.show[s.name];
    box.addEventListener("change", () => {
      S.show[s.name] = box.checked;
      requestRender();
    });
    label.append(box, " " + (SPLIT_TITLES[s.name] || s.name) + (s.name === "held_out" ? " (+)" : ""));
    toggles.appendChild(label);
  }
  document.getElementById("show-centers").addEventListener("change", (ev) => {
    S.centers = ev.target.checked;
    requestRender();
  });
  document.getElementById("show-geometry").addEventListener("change", (ev) => {
    S.geometry = ev.target.checked;
    requestRender();
  });
  const reset = document.getElementById("reset-view");
  if (V === 3) {
    reset.hidden = false;
    reset.addEventListener("click", () => {
      S.rot = HOME.slice();
      requestRender();
    });
  }
  function setView(view) {
    // Globe or map: the map's canvases are about half as tall, so every panel is resized.
    S.view = view;
    H = mapMode() ? MAP_H : W;
    const cssH = Math.round((css * H) / W);
    for (const P of panels) {
      P.stage.style.height = cssH + "px";
      P.stage.classList.toggle("map", mapMode());
      for (const c of [P.geo, P.pts, P.over]) {
        c.height = H;
        c.style.height = cssH + "px";
      }
      P.image = P.pctx.createImageData(W, H);
      P.pixels = new Uint32Array(P.image.data.buffer);
    }
    reset.hidden = mapMode();
    S.hover = null;
    hideTooltip();
    render();
  }
  if (V === 3 && D.map) {
    document.getElementById("view-toggle").hidden = false;
    for (const id of ["view-globe", "view-map"]) {
      const box = document.getElementById(id);
      box.addEventListener("change", () => { if (box.checked) setView(box.value); });
    }
  }

  // ---------- legend ----------
  const legend = document.getElementById("legend");
  function legendGroup(title, names, colors, hidden, counts, ring) {
    const wrap = document.createElement("div");
    const h = document.createElement("h3");
    h.textContent = title;
    const tools = document.createElement("div");
    tools.className = "tools";
    const all = document.createElement("button");
    all.type = "button";
    all.textContent = "all";
    const none = document.createElement("button");
    none.type = "button";
    none.textContent = "none";
    tools.append(all, none);
    let filter = null;
    const LIMIT = 300;
    if (names.length > LIMIT) {
      filter = document.createElement("input");
      filter.type = "search";
      filter.placeholder = `filter ${names.length} names`;
      tools.appendChild(filter);
    }
    const list = document.createElement("div");
    function fill() {
      list.textContent = "";
      const q = filter ? filter.value.trim() : "";
      let shown = 0;
      for (let c = 0; c < names.length && shown < LIMIT; c++) {
        if (q && !names[c].includes(q)) continue;
        shown++;
        const item = document.createElement("div");
        item.className = "item" + (hidden[c] ? " off" : "");
        item.dataset.index = String(c);
        const sw = document.createElement("span");
        sw.className = "swatch" + (ring ? " ring" : "");
        sw.style.background = colors[c];
        sw.style.borderColor = colors[c];
        const name = document.createElement("span");
        name.textContent = names[c];
        const count = document.createElement("span");
        count.className = "count";
        count.textContent = String(counts[c]);
        item.append(sw, name, count);
        item.addEventListener("click", () => {
          hidden[c] = hidden[c] ? 0 : 1;
          item.classList.toggle("off", !!hidden[c]);
          requestRender();
        });
        list.appendChild(item);
      }
      if (shown === LIMIT) {
        const more = document.createElement("div");
        more.className = "count";
        more.textContent = `… first ${LIMIT} shown; filter to find others`;
        list.appendChild(more);
      }
    }
    all.addEventListener("click", () => { hidden.fill(0); fill(); requestRender(); });
    none.addEventListener("click", () => { hidden.fill(1); fill(); requestRender(); });
    if (filter) filter.addEventListener("input", fill);
    fill();
    wrap.append(h, tools, list);
    legend.appendChild(wrap);
  }
  function countsOf(splitNames, n) {
    const counts = new Array(n).fill(0);
    for (const s of splits) if (splitNames.includes(s.name)) for (const l of s.labels) counts[l]++;
    return counts;
  }
  legendGroup("classes (click to hide)", D.classes, D.colors, S.hidden, countsOf(["train", "val"], C), false);
  if (hasHeld && D.held_out_classes.length) {
    legendGroup("held-out identities (never trained on)", D.held_out_classes, D.held_out_colors, S.hiddenHeld,
      countsOf(["held_out"], D.held_out_classes.length), true);
  }

  // ---------- curves ----------
  const curvesDiv = document.getElementById("curves");
  const HEAD_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];
  const charts = [];
  function chart(title, series, unit) {
    // series: [{label, color, values (per epoch index), dash}]
    if (!series.some((s) => s.values.some((v) => v !== null))) return;
    const cw = Math.round(330 * dpr), ch = Math.round(150 * dpr);
    const canvas = document.createElement("canvas");
    canvas.width = cw;
    canvas.height = ch;
    canvas.style.width = "330px";
    canvas.style.height = "150px";
    curvesDiv.appendChild(canvas);
    const ctx = canvas.getContext("2d");
    let lo = Infinity, hi = -Infinity;
    for (const s of series) for (const v of s.values) if (v !== null) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    if (unit === "%") { lo = Math.min(lo, 0); hi = Math.max(hi, 1); }
    if (hi - lo < 1e-9) { hi = lo + 1; }
    const pad = { l: 44 * dpr, r: 8 * dpr, t: 30 * dpr, b: 18 * dpr };
    const X = (i) => pad.l + (E === 1 ? 0.5 : i / (E - 1)) * (cw - pad.l - pad.r);
    const Y = (v) => ch - pad.b - ((v - lo) / (hi - lo)) * (ch - pad.t - pad.b);
    const fmt = (v) => (unit === "%" ? (100 * v).toFixed(0) + "%" : Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3));
    const base = document.createElement("canvas");
    base.width = cw;
    base.height = ch;
    const b = base.getContext("2d");
    b.fillStyle = "#fff";
    b.fillRect(0, 0, cw, ch);
    b.font = `${11 * dpr}px system-ui, sans-serif`;
    b.fillStyle = "#222";
    b.fillText(title, pad.l, 12 * dpr);
    b.fillStyle = "#666";
    b.strokeStyle = "#ddd";
    b.lineWidth = dpr;
    for (const v of [lo, (lo + hi) / 2, hi]) {
      b.beginPath();
      b.moveTo(pad.l, Y(v));
      b.lineTo(cw - pad.r, Y(v));
      b.stroke();
      b.fillText(fmt(v), 2 * dpr, Y(v) + 4 * dpr);
    }
    b.fillText(`epoch ${D.epochs[0]}`, pad.l, ch - 4 * dpr);
    const lastText = `${D.epochs[E - 1]}`;
    b.fillText(lastText, cw - pad.r - b.measureText(lastText).width, ch - 4 * dpr);
    let lx = pad.l;
    for (const s of series) {
      b.strokeStyle = s.color;
      b.lineWidth = 1.6 * dpr;
      b.setLineDash(s.dash ? [5 * dpr, 3 * dpr] : []);
      b.beginPath();
      let started = false;
      s.values.forEach((v, i) => {
        if (v === null) { started = false; return; }
        if (!started) b.moveTo(X(i), Y(v)); else b.lineTo(X(i), Y(v));
        started = true;
      });
      b.stroke();
      b.setLineDash([]);
      b.fillStyle = s.color;
      b.fillText(s.label, lx, 25 * dpr);
      lx += b.measureText(s.label).width + 10 * dpr;
    }
    charts.push({ ctx, base, X, Y, series, cw, ch, pad });
  }
  function drawCurveMarkers() {
    for (const c of charts) {
      c.ctx.drawImage(c.base, 0, 0);
      const x = c.X(S.epoch);
      c.ctx.strokeStyle = "rgba(0,0,0,0.55)";
      c.ctx.lineWidth = dpr;
      c.ctx.beginPath();
      c.ctx.moveTo(x, c.pad.t);
      c.ctx.lineTo(x, c.ch - c.pad.b);
      c.ctx.stroke();
      for (const s of c.series) {
        const v = s.values[S.epoch];
        if (v === null) continue;
        c.ctx.fillStyle = s.color;
        c.ctx.beginPath();
        c.ctx.arc(x, c.Y(v), 3 * dpr, 0, 2 * Math.PI);
        c.ctx.fill();
      }
    }
  }
  if (panels.length === 1) {
    const m = panels[0].metrics;
    const pair = (a, b, la, lb) => [
      { label: la, color: "#1f77b4", values: m.series(a), dash: true },
      { label: lb, color: "#d62728", values: m.series(b) },
    ];
    chart("loss", pair("train_loss", "val_loss", "train", "val"));
    chart("accuracy (margin-free)", pair("train_acc", "val_acc", "train", "val"), "%");
    chart("1-NN accuracy (cosine)", pair("train_knn_acc", "val_knn_acc", "train", "val"), "%");
    chart("mean angle to own centre, degrees", pair("train_angle_mean_deg", "val_angle_mean_deg", "train", "val"));
    chart("smallest angle between centres, degrees", [{ label: "centres", color: "#2ca02c", values: m.series("center_angle_min_deg") }]);
  } else {
    const per = (name) => panels.map((P, k) => ({ label: P.data.name, color: HEAD_COLORS[k % HEAD_COLORS.length], values: P.metrics.series(name) }));
    chart("val loss", per("val_loss"));
    chart("val accuracy (margin-free)", per("val_acc"), "%");
    chart("val 1-NN accuracy (cosine)", per("val_knn_acc"), "%");
    chart("val mean angle to own centre, degrees", per("val_angle_mean_deg"));
    chart("smallest angle between centres, degrees", per("center_angle_min_deg"));
  }

  // ---------- evaluation ----------
  (function evalSection() {
    const withEval = panels.filter((P) => P.data.eval);
    if (!withEval.length) return;
    const sec = document.getElementById("eval");
    const h = document.createElement("h2");
    h.textContent = "Evaluation";
    const note = document.createElement("p");
    const ev0 = withEval[0].data.eval;
    note.textContent = `From eval.json (${ev0.checkpoint || "best"} checkpoint${ev0.epoch ? ", epoch " + ev0.epoch : ""}). ` +
      "Verification: every positive pair and as many seeded negative pairs, cosine similarity. " +
      "Held-out identities were never trained on: that is the open-set figure ArcFace is for.";
    sec.append(h, note);
    const table = document.createElement("table");
    const cols = [
      ["AUC", (r) => r.auc.toFixed(4)],
      ["EER", (r) => (100 * r.eer).toFixed(2) + "%"],
      ["TAR@FAR 1e-1", (r) => (100 * r.tar_at_far_1e1).toFixed(2) + "%"],
      ["TAR@FAR 1e-2", (r) => (100 * r.tar_at_far_1e2).toFixed(2) + "%"],
      ["TAR@FAR 1e-3", (r) => (100 * r.tar_at_far_1e3).toFixed(2) + "%"],
      ["10-fold acc.", (r) => (100 * r.ten_fold_mean).toFixed(2) + "% ± " + (100 * r.ten_fold_std).toFixed(2)],
      ["P@1", (r) => (100 * r.precision_at_1).toFixed(2) + "%"],
      ["MAP@R", (r) => r.map_at_r.toFixed(4)],
      ["NMI", (r) => r.nmi.toFixed(4)],
      ["images / ids", (r) => `${r.samples} / ${r.classes}`],
    ];
    const head = document.createElement("tr");
    for (const t of ["", ...cols.map((c) => c[0])]) {
      const th = document.createElement("th");
      th.textContent = t;
      head.appendChild(th);
    }
    table.appendChild(head);
    for (const P of withEval) {
      for (const [key, title] of [["held_out", "held out (unseen)"], ["val", "val (seen)"]]) {
        const r = P.data.eval[key];
        if (!r) continue;
        const tr = document.createElement("tr");
        const name = document.createElement("td");
        name.textContent = (panels.length > 1 ? P.data.name + " · " : "") + title;
        tr.appendChild(name);
        for (const [, f] of cols) {
          const td = document.createElement("td");
          try { td.textContent = f(r); } catch (_) { td.textContent = "–"; }
          tr.appendChild(td);
        }
        table.appendChild(tr);
      }
    }
    sec.appendChild(table);
    for (const P of withEval) {
      if (!P.data.roc_png) continue;
      const img = document.createElement("img");
      img.alt = `ROC curves of ${P.data.name}`;
      img.src = "data:image/png;base64," + P.data.roc_png;
      sec.appendChild(img);
    }
  })();

  // ---------- hover ----------
  const tooltip = document.getElementById("tooltip");
  let atlas = null;
  if (D.thumbs) {
    atlas = new Image();
    atlas.src = "data:image/jpeg;base64," + D.thumbs.jpeg;
  }
  function hideTooltip() {
    tooltip.hidden = true;
  }
  function angleDeg(a, b) {
    let d = 0, na = 0, nb = 0;
    for (let k = 0; k < V; k++) { d += a[k] * b[k]; na += a[k] * a[k]; nb += b[k] * b[k]; }
    if (na === 0 || nb === 0) return null;
    return (Math.acos(Math.max(-1, Math.min(1, d / Math.sqrt(na * nb)))) * 180) / Math.PI;
  }
  function describe(P, split, row) {
    const s = splits.find((t) => t.name === split);
    const e = S.epoch;
    const label = s.labels[row];
    const held = split === "held_out";
    const name = held ? D.held_out_classes[label] : D.classes[label];
    let own = null, near = null, nearAngle = null;
    const hv = P.hover[split];
    if (hv) {
      const o = 3 * (e * s.count + row);
      own = hv[o] === 65535 ? null : hv[o] / 100;
      near = hv[o + 1] === 65535 ? null : hv[o + 1];
      nearAngle = hv[o + 2] === 65535 ? null : hv[o + 2] / 100;
    } else {
      const pts = P.points[split];
      const p = [];
      for (let k = 0; k < V; k++) p.push(pts[(e * s.count + row) * V + k]);
      const centre = (c) => Array.from(P.centers.subarray((e * C + c) * V, (e * C + c + 1) * V));
      if (!held) own = angleDeg(p, centre(label));
      for (let c = 0; c < C; c++) {
        if (!held && c === label) continue;
        const a = angleDeg(p, centre(c));
        if (a !== null && (nearAngle === null || a < nearAngle)) { nearAngle = a; near = c; }
      }
    }
    return { s, label, name, held, own, near, nearAngle };
  }
  function showTooltip(P, split, row, clientX, clientY) {
    const d = describe(P, split, row);
    tooltip.textContent = "";
    if (atlas && d.s.thumbs && d.s.thumbs[row] >= 0 && atlas.complete) {
      const t = d.s.thumbs[row], size = D.thumbs.size, cols = D.thumbs.cols;
      const c = document.createElement("canvas");
      c.width = c.height = size;
      c.style.width = c.style.height = Math.max(64, size * 3) + "px";
      c.getContext("2d").drawImage(atlas, (t % cols) * size, Math.floor(t / cols) * size, size, size, 0, 0, size, size);
      tooltip.appendChild(c);
    }
    const line = (text, cls) => {
      const div = document.createElement("div");
      div.textContent = text;
      if (cls) div.className = cls;
      tooltip.appendChild(div);
    };
    line(`${d.held ? "held-out identity" : "class"} ${d.name} · ${d.held ? "held-out" : split} #${row}`);
    if (d.s.files && d.s.files[row]) line(d.s.files[row], "muted");
    if (!d.held) line(d.own === null ? "angle to its centre: –" : `angle to its centre: ${d.own.toFixed(1)}°`);
    if (d.near !== null) {
      line(`${d.held ? "nearest centre" : "nearest other centre"}: class ${D.classes[d.near]} at ${d.nearAngle.toFixed(1)}°`);
    } else if (P.hover[split]) {
      line("nearest centre: not searched at this size", "muted");
    }
    tooltip.hidden = false;
    const x = Math.min(window.innerWidth - 280, clientX + 14);
    const y = Math.min(window.innerHeight - tooltip.offsetHeight - 8, clientY + 14);
    tooltip.style.left = x + "px";
    tooltip.style.top = Math.max(0, y) + "px";
  }
  function nearest(P, mx, my) {
    let best = null, bestD = (9 * dpr) ** 2;
    for (const s of splits) {
      if (!S.show[s.name]) continue;
      const scr = P.screen[s.name];
      for (let i = 0; i < s.count; i++) {
        const dx = scr[2 * i] - mx, dy = scr[2 * i + 1] - my;
        const d = dx * dx + dy * dy;
        if (d < bestD) { bestD = d; best = { split: s.name, row: i }; }
      }
    }
    return best;
  }
  for (const P of panels) {
    let drag = null;
    P.over.addEventListener("mousedown", (ev) => {
      if (V === 3 && !mapMode()) drag = { x: ev.clientX, y: ev.clientY };
    });
    window.addEventListener("mouseup", () => { drag = null; });
    P.over.addEventListener("mouseleave", () => {
      if (S.hover && S.hover.panel === P.index) { S.hover = null; hideTooltip(); drawOverlay(P); }
    });
    P.over.addEventListener("mousemove", (ev) => {
      if (drag) {
        const dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
        drag = { x: ev.clientX, y: ev.clientY };
        S.rot = mul(mul(rotX(dy * 0.01), rotY(dx * 0.01)), S.rot);
        S.hover = null;
        hideTooltip();
        requestRender();
        return;
      }
      const rect = P.over.getBoundingClientRect();
      const mx = (ev.clientX - rect.left) * (W / rect.width), my = (ev.clientY - rect.top) * (H / rect.height);
      const hit = nearest(P, mx, my);
      const before = S.hover;
      S.hover = hit ? { panel: P.index, split: hit.split, row: hit.row } : null;
      if (hit) showTooltip(P, hit.split, hit.row, ev.clientX, ev.clientY);
      else hideTooltip();
      if (before && before.panel !== P.index) drawOverlay(panels[before.panel]);
      drawOverlay(P);
    });
  }

  // ---------- scripting and benchmarks ----------
  window.arcfaceViewer = {
    state: () => ({
      epoch: D.epochs[S.epoch],
      epochIndex: S.epoch,
      epochs: E,
      panels: panels.length,
      points: panels.reduce((n, P) => n + P.drawn, 0),
      show: Object.assign({}, S.show),
      view: V === 3 ? S.view : "circle",
      canvas: [W, H],
    }),
    // The map point (Hammer units: the ellipse of half-axes 2√2 and √2) of a direction, as the
    // page draws it; the tests compare it with hand-computed values.
    mapPoint: (x, y, z) => {
      const ll = lonLat(x, y, z);
      return ll ? hammer(ll[0], ll[1]) : null;
    },
    setView: (view) => setView(view),
    // Client coordinates of a drawn point of the first panel (the middle one of its list).
    firstPoint: () => {
      const P = panels[0];
      const rect = P.over.getBoundingClientRect();
      for (const s of splits) {
        const scr = P.screen[s.name];
        const rows = [];
        for (let i = 0; i < s.count; i++) if (Number.isFinite(scr[2 * i])) rows.push(i);
        if (!rows.length) continue;
        const i = rows[rows.length >> 1];
        return { split: s.name, row: i, x: rect.left + scr[2 * i] / dpr, y: rect.top + scr[2 * i + 1] / dpr };
      }
      return null;
    },
    setEpoch: (i) => { S.epoch = Math.max(0, Math.min(E - 1, i)); render(); },
    show: (split, on) => { S.show[split] = !!on; render(); },
    // Milliseconds per scrub step drawn synchronously (every epoch in turn, `frames` times).
    bench: (frames) => {
      const t0 = performance.now();
      for (let k = 0; k < frames; k++) { S.epoch = k % E; render(); }
      return (performance.now() - t0) / frames;
    },
    // Frames per second actually presented while the epoch changes on every animation frame.
    fps: (ms) => new Promise((resolve) => {
      let frames = 0;
      const t0 = performance.now();
      function step() {
        S.epoch = (S.epoch + 1) % E;
        render();
        frames++;
        const t = performance.now() - t0;
        if (t < ms) requestAnimationFrame(step);
        else resolve((1000 * frames) / t);
      }
      requestAnimationFrame(step);
    }),
  };
  render();
  document.body.dataset.ready = "1";
})();
