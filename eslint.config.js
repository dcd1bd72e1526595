// The web page's linter (`make lint`): plain ES modules served as they are to the browser, no build step.
import js from "@eslint/js";
import globals from "globals";

// dom.js builds nodes: HTML strings are how untrusted names and titles would become markup.
const noHtmlStrings = ["innerHTML", "outerHTML"].map((property) => ({
  selector: `AssignmentExpression > MemberExpression.left[property.name="${property}"]`,
  message: `No ${property}: build nodes with dom.js's h() so text stays text.`,
}));

export default [
  { ignores: ["node_modules/", ".venv*/"] },
  {
    files: ["gateway/web/static/**/*.js"],
    languageOptions: {
      ecmaVersion: 2024,
      sourceType: "module",
      globals: globals.browser,
    },
    linterOptions: { reportUnusedDisableDirectives: "error" },
    rules: {
      ...js.configs.recommended.rules,
      eqeqeq: "error",
      "no-var": "error",
      "prefer-const": "error",
      "no-restricted-syntax": ["error", ...noHtmlStrings],
      "no-restricted-properties": [
        "error",
        { property: "insertAdjacentHTML", message: "No HTML strings: build nodes with dom.js's h()." },
        { object: "document", property: "write", message: "No document.write: build nodes with dom.js's h()." },
      ],
    },
  },
];
