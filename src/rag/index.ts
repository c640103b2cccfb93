/**
 * `llma/rag`: the reference planner (one prompt and one reference list per query, for `llma rag`,
 * `llma serve` and the library) and retrieval-augmented, cache-assisted generation on top of the
 * store (`llma/store`, which only stores).
 */
export {
  planReferences,
  fitPrompt,
  orderReferences,
  queryFrame,
  textFrame,
  ragPrompt,
  docsBlock,
  withDocs,
  REFERENCE_ORDER,
  type PromptFrame,
  type RenderedPrompt,
  type TextPrompt,
  type FittedPrompt,
  type PassageLike,
  type CachedAnswerLike,
  type ReferenceInput,
  type ReferenceOrigin,
  type ReferenceSources,
  type ReferenceList,
  type PlanRequest,
  type ReferencePlan,
} from "./planner.js";
export { ragAnswer, retrievePassages, lookUpAnswers, worthCaching, DEFAULT_TOP, DEFAULT_CACHE_TOP, type RagRequest, type RagResult } from "./answer.js";
