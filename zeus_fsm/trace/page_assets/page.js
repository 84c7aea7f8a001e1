"use strict";
// Steps through the run: the card, the lanes and the diagram follow `current`.
(function () {
  var data = JSON.parse(document.getElementById("steps-data").textContent);
  var steps = data.steps;
  var current = 0;

  function byId(id) { return document.getElementById(id); }

  function text(tag, cls, content) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (content !== undefined) { node.textContent = content; }
    return node;
  }

  function mark(ids, cls) {
    ids.forEach(function (id) {
      var node = byId(id);
      if (node) { node.classList.add(cls); }
    });
  }

  function unmark(root, cls) {
    root.querySelectorAll("." + cls).forEach(function (node) { node.classList.remove(cls); });
  }

  function showWire(step) {
    var wire = byId("wire");
    wire.replaceChildren();
    if (!step.frames.length) {
      wire.appendChild(text("span", "nobytes", step.nobytes));
      return;
    }
    step.frames.forEach(function (frame) {
      var row = text("div", "frame");
      frame.forEach(function (field) {
        var box = text("span", "field role-" + field[2]);
        box.title = field[1];
        box.appendChild(text("span", "bytes", field[0]));
        box.appendChild(text("span", "name", field[1]));
        row.appendChild(box);
      });
      wire.appendChild(row);
    });
    if (step.folded) { wire.appendChild(text("span", "fold", step.folded)); }
  }

  function showRules(step) {
    var rules = byId("rules");
    rules.replaceChildren();
    step.rules.forEach(function (rule) {
      var box = text("div", rule.broken ? "rule broken" : "rule");
      box.appendChild(text("b", "", (rule.broken ? "breaks " : "satisfies ") + rule.id +
                                    " " + rule.level + ": "));
      box.appendChild(document.createTextNode(rule.text));
      rules.appendChild(box);
    });
  }

  function show(number) {
    number = Math.max(1, Math.min(steps.length, number));
    current = number;
    var step = steps[number - 1];
    byId("counter").textContent = "step " + number + " of " + steps.length;
    byId("prev").disabled = number === 1;
    byId("next").disabled = number === steps.length;
    byId("step-title").textContent = number + ". " + step.title;
    byId("route").textContent = step.route;
    showWire(step);
    byId("fds").replaceChildren();
    step.fds.forEach(function (fd) {
      byId("fds").appendChild(text("span", "fd", "+ fd (SCM_RIGHTS): " + fd));
    });
    showRules(step);
    byId("change").textContent = step.change;
    byId("lifecycle").textContent = step.lifecycle;
    byId("command-moves").textContent = step.commands;
    byId("explain").textContent = step.explain;
    byId("legend-who").textContent = step.who;
    byId("legend-machine").textContent = step.diagram === "command" ?
      "the command machine of" : "the handshake of";

    // The diagram of the machine this step moves: a slave's handshake or a command's.
    var diagram = byId("diagram");
    diagram.querySelectorAll(".machine").forEach(function (machine) {
      machine.hidden = machine.id !== "machine-" + step.diagram;
    });
    ["current", "taken", "refused", "broken-now"].forEach(function (cls) { unmark(diagram, cls); });
    mark(step.states, "current");
    mark(step.edges, "taken");
    mark(step.rejected, "refused");
    if (step.rejected.length) { mark(["state-broken"], "broken-now"); }

    var lanes = byId("lanes");
    unmark(lanes, "current");
    unmark(lanes, "active");
    unmark(lanes, "past");
    for (var i = 1; i < number; i++) { byId("row-" + i).classList.add("past"); }
    var row = byId("row-" + number);
    row.classList.add("current");
    mark(["lane-" + step.lane, "lane-head-" + step.lane], "active");
    var box = lanes.getBoundingClientRect();
    var place = row.getBoundingClientRect();
    if (place.top < box.top + 50 || place.bottom > box.bottom - 10) {
      lanes.scrollTop += place.top - box.top - box.height / 3;
    }
    if (location.hash !== "#step-" + number) {
      history.replaceState(null, "", "#step-" + number);
    }
  }

  // Fitted, the diagram's smallest labels are hard to read: "z" shows it at its own size,
  // scrolled to the current state.
  function zoom() {
    var diagram = byId("diagram");
    var svg = diagram.querySelector(".machine:not([hidden]) svg");
    var zoomed = diagram.classList.toggle("zoomed");
    svg.style.width = zoomed ? (svg.viewBox.baseVal.width * 4 / 3) + "px" : "";
    byId("zoom").textContent = zoomed ? "fit to the page" : "zoom 1:1";
    var here = diagram.querySelector(".machine:not([hidden]) .node.current");
    if (zoomed && here) {
      var box = diagram.getBoundingClientRect();
      var place = here.getBoundingClientRect();
      diagram.scrollLeft += place.left - box.left - box.width / 2;
      diagram.scrollTop += place.top - box.top - box.height / 2;
    }
  }

  function fromHash() {
    var match = /^#step-(\d+)$/.exec(location.hash);
    return match ? parseInt(match[1], 10) : 1;
  }

  byId("prev").addEventListener("click", function () { show(current - 1); });
  byId("next").addEventListener("click", function () { show(current + 1); });
  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey) { return; }
    if (event.key === "ArrowRight" || event.key === "ArrowDown") { show(current + 1); }
    else if (event.key === "ArrowLeft" || event.key === "ArrowUp") { show(current - 1); }
    else if (event.key === "Home") { show(1); }
    else if (event.key === "End") { show(steps.length); }
    else if (event.key === "z") { zoom(); }
    else { return; }
    event.preventDefault();
  });
  byId("zoom").addEventListener("click", zoom);
  byId("lanes").addEventListener("click", function (event) {
    var row = event.target.closest(".row");
    if (row) { show(parseInt(row.getAttribute("data-step"), 10)); }
  });
  window.addEventListener("hashchange", function () { show(fromHash()); });
  show(fromHash());
  document.body.setAttribute("data-ready", "yes");
}());
