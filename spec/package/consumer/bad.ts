// Wrong uses that must be type errors (the spec expects each, on its line).
import { loadModel } from 'falcon-mamba';

const model = await loadModel('models/demo', { backend: 'gpu' });
console.log(model.dtype);
