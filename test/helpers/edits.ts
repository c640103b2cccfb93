/** The edited-copy generator lives with the shared lossless cases (src/bench/fuzz-cases.ts). */
export { editedCopy } from "../../src/bench/fuzz-cases.js";
