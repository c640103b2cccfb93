import { Accelerator } from "./accelerator.js";
import type { DecodeResult } from "./decoder.js";
import type { TokenModel } from "./model.js";
import type { GenerateRequest } from "./request.js";

/** One request on the model's own accelerator (`model.accelerator`, see Accelerator.of): what it learns, later requests on the model use. */
export function generate(model: TokenModel, request: GenerateRequest): Promise<DecodeResult> {
  return Accelerator.of(model).generate(request);
}
