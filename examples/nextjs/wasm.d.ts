// `import wasmModule from 'fltr-credits/fltr_credits_bg.wasm?module'`: Next.js edge compiles the
// module at build time and hands over a WebAssembly.Module (no compiling from bytes at run time).
declare module '*.wasm?module' {
  const module: WebAssembly.Module;
  export default module;
}
