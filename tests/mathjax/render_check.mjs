// Renders TeX formulas with MathJax 3 (mathjax-full, pinned in package-lock.json), configured as
// JupyterLab 4 configures it, and reports every formula that does not render.
//
// stdin:  JSON array of {"id": any, "tex": string, "display": boolean}
//         `tex` is what MathJax receives, without its $ / $$ delimiters; a \begin{...}...\end{...}
//         environment is passed whole.
// stdout: JSON array of {"id", "tex", "error"}, one per formula that produced a TeX error or an
//         <merror> (empty when every formula renders).
// exit:   0 when every formula renders, 1 when some do not, 2 when the input is not as above.
//
// JupyterLab (@jupyterlab/mathjax-extension) uses the TeX input jax with AllPackages plus `require`.
// Two of those packages hide errors from the reader's view rather than fix them: `noerrors` shows
// the raw TeX of a formula that failed, and `noundefined` shows an unknown macro's name in red.
// They are left out here so that what would show as raw or red TeX is reported with its message.
// `require` (\require{...} loads an extension from the network) is not available offline.
import { mathjax } from 'mathjax-full/js/mathjax.js';
import { TeX } from 'mathjax-full/js/input/tex.js';
import { AllPackages } from 'mathjax-full/js/input/tex/AllPackages.js';
import { liteAdaptor } from 'mathjax-full/js/adaptors/liteAdaptor.js';
import { RegisterHTMLHandler } from 'mathjax-full/js/handlers/html.js';
import { CHTML } from 'mathjax-full/js/output/chtml.js';
import { readFileSync } from 'node:fs';

const HIDES_ERRORS = new Set(['noerrors', 'noundefined']);

function fail(message) {
  process.stderr.write(`render_check: ${message}\n`);
  process.exit(2);
}

let formulas;
try {
  formulas = JSON.parse(readFileSync(0, 'utf8'));
} catch (err) {
  fail(`expected a JSON array of {"id", "tex", "display"} on stdin. Received text that is not JSON: ${err.message}`);
}
if (!Array.isArray(formulas)) {
  fail(`expected a JSON array of {"id", "tex", "display"} on stdin. Received: ${typeof formulas}`);
}

const adaptor = liteAdaptor();
RegisterHTMLHandler(adaptor);
const errors = [];
const tex = new TeX({
  packages: AllPackages.filter((name) => !HIDES_ERRORS.has(name)),
  processEscapes: true,
  processEnvironments: true,
  // The default turns an error into an <merror> node; keep the message instead.
  formatError: (jax, err) => {
    errors.push(err.message);
    return jax.formatError(err);
  },
});
// JupyterLab's output jax is CommonHTML too (some extensions, bussproofs, measure what they typeset).
const document = mathjax.document('', { InputJax: tex, OutputJax: new CHTML({ fontURL: '.' }) });

const failures = [];
for (const [index, formula] of formulas.entries()) {
  if (formula === null || typeof formula !== 'object' || typeof formula.tex !== 'string') {
    fail(`item ${index} must be {"id", "tex": string, "display": boolean}. Received: ${JSON.stringify(formula)}`);
  }
  errors.length = 0;
  let error = null;
  try {
    const html = adaptor.outerHTML(document.convert(formula.tex, { display: Boolean(formula.display) }));
    if (errors.length) {
      error = errors.join('; ');
    } else if (html.includes('<mjx-merror')) {
      error = `the output holds an <mjx-merror>: ${html.match(/<mjx-merror[\s\S]*?<\/mjx-merror>/)[0]}`;
    }
  } catch (err) {
    error = `MathJax raised: ${err && err.message ? err.message : String(err)}`;
  }
  if (error !== null) {
    failures.push({ id: formula.id ?? index, tex: formula.tex, error });
  }
}
process.stdout.write(JSON.stringify(failures, null, 1) + '\n');
process.exit(failures.length ? 1 : 0);
