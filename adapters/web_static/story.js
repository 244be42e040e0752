// StoryCraft's story page: keeps the server-rendered story live over a WebSocket.
// The server sends each part as finished, escaped HTML; this script only places it,
// sends presses, and reconnects (getting the story as it stands) when the link drops.
"use strict";
(function () {
  const story = document.body.dataset.story;
  const main = document.getElementById("story");
  const toast = document.getElementById("toast");
  const connection = document.getElementById("connection");
  let socket = null;
  let delay = 500;
  let toastTimer = 0;

  function nearBottom() {
    return window.innerHeight + window.scrollY >= document.body.scrollHeight - 120;
  }

  function place(id, html) {
    let box = main.querySelector('.message[data-id="' + id + '"]');
    if (!box) {
      box = document.createElement("div");
      box.className = "message";
      box.dataset.id = String(id);
      main.appendChild(box);
    }
    box.innerHTML = html; // built and escaped on the server
  }

  function show(text, error) {
    toast.textContent = text;
    toast.classList.toggle("error", Boolean(error));
    toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { toast.hidden = true; }, 4000);
  }

  function onFrame(event) {
    let frame;
    try { frame = JSON.parse(event.data); } catch (e) { return; }
    if (frame.op === "parts") {
      const follow = nearBottom();
      if (frame.reset) { main.textContent = ""; }
      frame.items.forEach(function (item) { place(item[0], item[1]); });
      if (follow) { window.scrollTo(0, document.body.scrollHeight); }
    } else if (frame.op === "reply") {
      show(frame.text, frame.error);
    } else if (frame.op === "error") {
      show(frame.text, true);
    }
  }

  function send(frame) {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify(frame));
    }
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/s/" + story + "/ws");
    socket.onopen = function () { delay = 500; connection.hidden = true; };
    socket.onmessage = onFrame;
    socket.onclose = function () {
      connection.textContent = document.body.dataset.offline;
      connection.hidden = false;
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 10000);
    };
  }

  document.addEventListener("click", function (event) {
    const target = event.target.closest("button");
    if (!target) { return; }
    if (target.dataset.button) {
      send({ op: "press", button: target.dataset.button });
    } else if (target.dataset.command) {
      send({ op: "command", command: target.dataset.command });
    } else if (target.dataset.setting === "pictures") {
      send({ op: "settings", pictures: target.dataset.value === "1" });
    } else if (target.dataset.setting === "window") {
      send({ op: "settings", window: Number(target.dataset.value) });
    }
  });

  // A player's own action: the part's small form sends its text, never a page load.
  document.addEventListener("submit", function (event) {
    const form = event.target.closest("form[data-own]");
    if (!form) { return; }
    event.preventDefault();
    const field = form.elements.namedItem("action");
    send({ op: "own", button: form.dataset.own, text: field.value });
    field.value = "";
  });

  connect();
})();
