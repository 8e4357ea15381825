// Bundles the widget modules that render Markdown (they import marked) into js/<name>.js.
// Run js/src/build.sh (the built files are committed, so users and CI need no Node).
// Modules without dependencies are written by hand directly in js/.
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const deps = process.env.NVNB_JS_DEPS;
const { build } = createRequire(path.join(deps, "package.json"))("esbuild");

for (const name of ["stream_pane", "chat_history", "arena"]) {
  await build({
    entryPoints: [path.join(here, `${name}.js`)],
    outfile: path.join(here, "..", `${name}.js`),
    nodePaths: [path.join(deps, "node_modules")],
    bundle: true,
    format: "esm",
    minify: false,
    legalComments: "inline",
    target: "es2020",
    banner: {
      js: `// Built from js/src/${name}.js by js/src/build.sh (esbuild; bundles marked, MIT). Do not edit.`,
    },
  });
}
