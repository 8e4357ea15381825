// Bundles js/src/index.js (every view, marked, highlight.js, the sanitiser and the stylesheets)
// into nvnb/static/nvnb.js, the one front-end module every nvnb widget loads.
// Run js/src/build.sh; the built file is committed, so users and CI need no Node.
// `node build.mjs --out FILE` writes elsewhere (the test that the committed bundle is current).
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const deps = process.env.NVNB_JS_DEPS;
const { build } = createRequire(path.join(deps, "package.json"))("esbuild");
const i = process.argv.indexOf("--out");
const outfile = i > 0 ? process.argv[i + 1] : path.join(here, "..", "..", "nvnb", "static", "nvnb.js");

await build({
  entryPoints: [path.join(here, "index.js")],
  outfile,
  absWorkingDir: here, // paths in the output (there are none when minified) stay relative
  nodePaths: [path.join(deps, "node_modules")],
  bundle: true,
  format: "esm",
  minify: true,
  legalComments: "eof",
  charset: "utf8",
  loader: { ".css": "text" },
  target: "es2020",
  banner: {
    js: "// nvnb's widget front end, built from js/src/ by js/src/build.sh (esbuild; bundles marked and highlight.js). Do not edit.",
  },
});
