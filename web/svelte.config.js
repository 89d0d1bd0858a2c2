// Svelte compiler options (defaults; runes mode is inferred per component).
export default {};
