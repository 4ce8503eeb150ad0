// The package's ARC4 module (what `seedrandom` exports as its default), typed as the package.
declare module 'seedrandom/seedrandom.js' {
  import seedrandom from 'seedrandom';
  export default seedrandom;
}
