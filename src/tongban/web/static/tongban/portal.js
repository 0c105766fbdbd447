/* 通办 portal: progressive enhancement only. Every page works without this file. */
(function () {
  "use strict";

  var body = document.body;

  /* 朗读: read the main content aloud with the browser's own speech engine (no network). */
  function setupReadAloud() {
    var button = document.querySelector("[data-read-aloud]");
    if (!button || !("speechSynthesis" in window) || typeof window.SpeechSynthesisUtterance !== "function") {
      return;
    }
    var synth = window.speechSynthesis;
    var label = button.querySelector("[data-label]");
    var reading = false;

    function setReading(on) {
      reading = on;
      button.setAttribute("aria-pressed", on ? "true" : "false");
      if (label) {
        label.textContent = on ? "停止朗读" : "朗读";
      }
    }

    function chineseVoice() {
      var voices = synth.getVoices() || [];
      for (var i = 0; i < voices.length; i += 1) {
        if (/^zh[-_]?(CN|Hans)/i.test(voices[i].lang)) {
          return voices[i];
        }
      }
      return null;
    }

    // Short pieces: some engines stop after about 15 seconds of one utterance.
    function pieces(text) {
      var sentences = text.replace(/[ \t]+/g, " ").match(/[^。！？；\n]+[。！？；]?/g) || [];
      var out = [];
      var current = "";
      sentences.forEach(function (sentence) {
        sentence = sentence.trim();
        if (!sentence) {
          return;
        }
        if ((current + sentence).length > 120 && current) {
          out.push(current);
          current = "";
        }
        current += (current ? " " : "") + sentence;
      });
      if (current) {
        out.push(current);
      }
      return out;
    }

    button.addEventListener("click", function () {
      if (reading) {
        synth.cancel();
        setReading(false);
        return;
      }
      var main = document.getElementById("main");
      var parts = pieces(main ? main.innerText : "");
      if (!parts.length) {
        return;
      }
      synth.cancel();
      setReading(true);
      var voice = chineseVoice();
      var rate = body.classList.contains("care") ? 0.85 : 1;
      parts.forEach(function (part, index) {
        var utterance = new window.SpeechSynthesisUtterance(part);
        utterance.lang = "zh-CN";
        utterance.rate = rate;
        if (voice) {
          utterance.voice = voice;
        }
        if (index === parts.length - 1) {
          utterance.addEventListener("end", function () { setReading(false); });
        }
        utterance.addEventListener("error", function () { setReading(false); });
        synth.speak(utterance);
      });
    });
    window.addEventListener("pagehide", function () { synth.cancel(); });
    button.hidden = false;
  }

  /* Kiosk: after a quiet spell, forget this visitor (care mode, hall) and go back to the home page,
     still a kiosk (POST form in base.html). An untouched home page has nothing to forget. */
  function setupKioskIdle() {
    if (!body.classList.contains("kiosk")) {
      return;
    }
    var form = document.getElementById("kiosk-reset");
    var seconds = parseInt(body.getAttribute("data-idle-seconds"), 10);
    if (!form || !(seconds > 0)) {
      return;
    }
    var warning = document.querySelector("[data-idle-warning]");
    var resetTimer = null;
    var warnTimer = null;

    function arm() {
      window.clearTimeout(resetTimer);
      window.clearTimeout(warnTimer);
      if (warning) {
        warning.hidden = true;
      }
      resetTimer = window.setTimeout(function () { form.submit(); }, seconds * 1000);
      if (warning && seconds > 20) {
        warnTimer = window.setTimeout(function () { warning.hidden = false; }, (seconds - 10) * 1000);
      }
    }

    ["pointerdown", "keydown", "touchstart", "wheel", "scroll", "input"].forEach(function (type) {
      window.addEventListener(type, arm, { passive: true, capture: true });
    });
    if (window.location.pathname !== "/" || body.classList.contains("care")) {
      arm();
    }
  }

  setupReadAloud();
  setupKioskIdle();
})();
