// Enter-key handling that respects input methods (Chinese, Japanese, Korean IMEs).
// While a composition is open, Enter confirms the candidate; it must never send a message or
// submit a form. Browsers report that differently: event.isComposing, keyCode 229, or (Safari)
// compositionend arriving *before* the keydown of the confirming Enter. So a tracker also counts
// the tick after compositionend as composing.

export function createCompositionTracker(defer = (fn) => setTimeout(fn, 0)) {
  let open = false;
  let settling = false;
  let gen = 0;
  return {
    start() {
      open = true;
      settling = false;
      gen++;
    },
    end() {
      open = false;
      settling = true;
      const g = ++gen;
      defer(() => {
        if (g === gen) settling = false;
      });
    },
    get composing() {
      return open || settling;
    },
  };
}

// True when this key event belongs to an input method composition.
export function isComposingEvent(event, tracker) {
  if (!event) return false;
  if (event.isComposing) return true;
  if (event.keyCode === 229 || event.which === 229) return true;
  return !!tracker?.composing;
}

// What Enter should do in a field.
//   'send'    - send / submit (plain Enter in the composer, Enter in a single-line form field)
//   'newline' - let the browser insert a line break (Shift+Enter in the composer)
//   'block'   - an IME is composing: preventDefault on submit paths, never send
//   'none'    - not an Enter key; nothing to do
// options.multiline: the field is the composer (Shift+Enter = newline).
export function enterAction(event, tracker, { multiline = true } = {}) {
  if (!event || (event.key !== 'Enter' && event.keyCode !== 13 && !(event.keyCode === 229 && event.code === 'Enter'))) {
    return 'none';
  }
  if (isComposingEvent(event, tracker)) return 'block';
  if (multiline) {
    if (event.shiftKey || event.altKey) return 'newline';
    if (event.ctrlKey || event.metaKey) return 'send';
    return 'send';
  }
  return 'send';
}

// Wires a tracker to an element (Svelte action shape: returns {destroy}).
// Also guards every form submit inside it: a submit that follows an IME Enter is cancelled.
export function imeGuard(node, tracker = createCompositionTracker(), now = () => performance.now()) {
  let blockedAt = -1;
  const onStart = () => tracker.start();
  const onEnd = () => tracker.end();
  const onKey = (e) => {
    if (enterAction(e, tracker, { multiline: false }) === 'block') {
      blockedAt = now();
      // Only cancel when the composition already ended (Safari order / keyCode 229 after end);
      // cancelling a keydown during live composition is harmless but unnecessary.
      if (!e.isComposing) e.preventDefault();
    }
  };
  const onSubmit = (e) => {
    if (tracker.composing || (blockedAt >= 0 && now() - blockedAt < 100)) {
      e.preventDefault();
      e.stopImmediatePropagation();
    }
  };
  node.addEventListener('compositionstart', onStart, true);
  node.addEventListener('compositionend', onEnd, true);
  node.addEventListener('keydown', onKey, true);
  node.addEventListener('submit', onSubmit, true);
  return {
    tracker,
    destroy() {
      node.removeEventListener('compositionstart', onStart, true);
      node.removeEventListener('compositionend', onEnd, true);
      node.removeEventListener('keydown', onKey, true);
      node.removeEventListener('submit', onSubmit, true);
    },
  };
}
