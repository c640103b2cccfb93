/** llma/bench: datasets, the model-free simulator and the benchmark runner (charts load vega only when rendered). */
export { loadDataset, parseDataset, samplePrompt, type Dataset, type Sample } from "./dataset.js";
export { simulateSamples, tokenizeSample, MATCHERS, type Matcher, type PointResult, type Grid } from "./simulate.js";
export { runBench, validateMethods, type BenchOptions, type BenchReport, type BenchMethod } from "./runner.js";
export { renderSvg, kSweepChart } from "./charts.js";
