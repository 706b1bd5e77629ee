/**
 * The oracle (docs/oracle.md): record every named intermediate of a forward pass, write and read it as a
 * safetensors trace, and compare two traces in forward order to find where they first diverge.
 */
export { traceForward, type TraceTensor } from './trace.ts';
export { writeTrace, readTrace, encodeTrace, type Trace, type TraceInfo } from './file.ts';
export {
  compareTraces,
  firstDivergence,
  DEFAULT_TRACE_TOLERANCE,
  type CompareOptions,
  type TraceComparison,
  type TensorComparison,
  type TensorStatus,
  type TraceTolerance,
} from './compare.ts';
export {
  TRACE_HEAD,
  TRACE_LAYER_STAGES,
  TRACE_TAIL,
  TRACE_FORMAT,
  traceNames,
  forwardKey,
  sortForward,
  type TraceNameInfo,
} from './names.ts';
export { fromHfTrace, isHfTrace } from './hf-names.ts';
