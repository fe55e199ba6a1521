// The live map: deck.gl's H3HexagonLayer over the API of lastmile/map/server.py, polled every 0.7
// s (the page shows what reached ClickHouse within about a second). The operator's view
// holds counts per hex; ?partner=P adds that partner's own active shipments (a layer of their
// resolution-10 cells and a list), and limits the feeds to its own.
(function () {
  "use strict";
  const POLL_MS = 700;
  const ZOOM_RES9 = 12.5; // closer than this, resolution-9 hexes
  const params = new URLSearchParams(location.search);
  const partner = params.get("partner");
  const settings = window.LASTMILE || {};
  const state = {layer: "deliveries", res: 8, hexes: [], drawn: 0, updates: 0, shipments: [], errors: [],
                 centred: false, loaded: false};
  window.lastmileMap = state; // what the browser test reads

  const PALETTE = [[255, 237, 160], [254, 178, 76], [240, 59, 32], [189, 0, 38]];
  const LEGENDS = {
    deliveries: ["partners delivering there", ["1", "2", "3", "4+"]],
    colocations: ["co-located pairs", ["1", "2-4", "5-9", "10+"]],
    proposals: ["proposals (tooltip: km saved)", ["1", "2-4", "5-9", "10+"]],
    vans: ["vans", ["1", "2-4", "5-9", "10+"]],
  };
  function bucket(layer, d) {
    if (layer === "deliveries") return Math.min(d.partners, 4) - 1;
    return d.value >= 10 ? 3 : d.value >= 5 ? 2 : d.value >= 2 ? 1 : 0;
  }
  function api(path, own) { // own: the partner's view of its own data (needs its credentials)
    const sep = path.includes("?") ? "&" : "?";
    const url = partner && own ? path + sep + "partner=" + encodeURIComponent(partner) : path;
    return fetch(url, {credentials: "same-origin", cache: "no-store"}).then(function (r) {
      if (!r.ok) return r.json().then(function (body) { throw new Error(body.error || r.statusText); });
      return r.json();
    });
  }
  const text = function (id, value) { document.getElementById(id).textContent = value; };
  const fmt = function (n, digits) {
    return n === null || n === undefined ? "-" : Number(n).toLocaleString("en", {maximumFractionDigits: digits || 0});
  };

  const deckgl = new deck.Deck({
    parent: document.getElementById("map"),
    initialViewState: {longitude: 0, latitude: 0, zoom: 1},
    controller: true,
    onViewStateChange: function (e) {
      const res = e.viewState.zoom >= ZOOM_RES9 ? 9 : 8;
      if (res !== state.res) { state.res = res; refresh(); }
      return e.viewState;
    },
    onAfterRender: function () {
      const layer = deckgl.props.layers.find(function (l) { return l.id === "hexes"; });
      state.drawn = layer ? layer.props.data.length : 0;
      text("drawn", fmt(state.drawn));
    },
    getTooltip: function (info) {
      const d = info.object;
      if (!d) return null;
      if (d.shipment_id) return d.shipment_id + " " + d.status;
      const extra = d.km !== undefined ? ", " + fmt(d.km, 1) + " km saved" : "";
      return fmt(d.value) + " " + state.layer + " (" + d.partners + " partners" + extra + ")";
    },
  });

  function layers() {
    const out = [];
    if (settings.tiles) {
      out.push(new deck.TileLayer({
        id: "base", data: settings.tiles, minZoom: 0, maxZoom: 19, tileSize: 256,
        renderSubLayers: function (props) {
          const b = props.tile.boundingBox;
          return new deck.BitmapLayer(props, {data: null, image: props.data, bounds: [b[0][0], b[0][1], b[1][0], b[1][1]]});
        },
      }));
    }
    const layer = state.layer;
    out.push(new deck.H3HexagonLayer({
      id: "hexes", data: state.hexes, pickable: true, extruded: false, stroked: true, filled: true,
      getHexagon: function (d) { return d.h3; },
      getFillColor: function (d) { return PALETTE[bucket(layer, d)].concat([200]); },
      getLineColor: [80, 80, 80, 120], lineWidthMinPixels: 1,
      updateTriggers: {getFillColor: [layer]},
    }));
    if (partner && state.shipments.length) {
      out.push(new deck.H3HexagonLayer({
        id: "mine", data: state.shipments, pickable: true, filled: true, stroked: true,
        getHexagon: function (d) { return d.h3; }, getFillColor: [30, 90, 200, 220], getLineColor: [10, 40, 120],
        lineWidthMinPixels: 1,
      }));
    }
    return out;
  }

  function legend() {
    const l = LEGENDS[state.layer];
    document.getElementById("legend").innerHTML = l[0] + ":" + l[1].map(function (label, i) {
      return '<span class="swatch" style="background:rgb(' + PALETTE[i].join(",") + ')"></span>' + label;
    }).join("");
  }

  function showSummary(s) {
    text("now", s.now ? s.now.replace("T", " ").slice(0, 19) + " UTC" : "no events yet");
    text("active", fmt(s.active_deliveries));
    text("colocation-rate", s.colocation_rate === null ? "-" : fmt(100 * s.colocation_rate, 1) + " %");
    text("proposals", fmt(s.proposals_today));
    text("km-saved", fmt(s.km_saved_today, 1));
    text("km-upper", fmt(s.km_saved_today_upper_bound, 1));
    const feeds = document.getElementById("feeds");
    feeds.innerHTML = "<tr><th>partner</th><td>s since last event</td></tr>";
    Object.keys(s.feeds).forEach(function (p) {
      const row = feeds.insertRow();
      row.insertCell().outerHTML = "<th></th>";
      row.cells[0].textContent = p;
      const seconds = s.feeds[p].seconds_since_last_event;
      const cell = row.insertCell();
      cell.textContent = fmt(seconds);
      if (seconds > 300) cell.className = "stale";
    });
    const box = document.getElementById("dead-letters-box");
    box.hidden = s.dead_letters_last_hour === null;
    const dead = document.getElementById("dead-letters");
    dead.innerHTML = "";
    Object.entries(s.dead_letters_last_hour || {}).forEach(function (e) {
      const row = dead.insertRow();
      row.insertCell().outerHTML = "<th></th>";
      row.cells[0].textContent = e[0];
      row.insertCell().textContent = fmt(e[1]);
    });
    if (!state.centred && s.center) {
      state.centred = true;
      deckgl.setProps({initialViewState: {latitude: s.center[0], longitude: s.center[1], zoom: 10.6}});
    }
  }

  function showShipments(list) {
    state.shipments = list;
    document.getElementById("mine").hidden = false;
    const table = document.getElementById("shipments");
    table.innerHTML = "";
    list.forEach(function (s) {
      const row = table.insertRow();
      row.className = "shipment";
      [s.shipment_id, s.status, s.window_start.slice(11, 16) + "-" + s.window_end.slice(11, 16)].forEach(function (v) {
        row.insertCell().textContent = v;
      });
    });
  }

  let inFlight = false;
  function refresh() {
    if (inFlight) return;
    inFlight = true;
    const asked = {layer: state.layer, res: state.res};
    const calls = [api("/api/summary", true), api("/api/hexes?layer=" + asked.layer + "&res=" + asked.res, false)];
    if (partner) calls.push(api("/api/shipments", true));
    Promise.all(calls).then(function (answers) {
      showSummary(answers[0]);
      if (asked.layer === state.layer && asked.res === state.res) state.hexes = answers[1].hexes;
      if (partner) showShipments(answers[2].shipments);
      deckgl.setProps({layers: layers()});
      state.updates += 1;
      state.loaded = true;
      text("status", "");
    }).catch(function (err) {
      state.errors.push(String(err));
      text("status", String(err.message || err));
    }).finally(function () { inFlight = false; });
  }

  document.querySelectorAll("input[name=layer]").forEach(function (input) {
    input.addEventListener("change", function () { state.layer = input.value; legend(); refresh(); });
  });
  if (partner) text("who", partner);
  legend();
  refresh();
  setInterval(refresh, POLL_MS);
})();
