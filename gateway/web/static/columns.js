// A board's columns as the page shows them (the board view and the projector). A board of one column (a task's
// `metric` alone) shows it as "Score", with the metric's own digits; a board of several (`[[tasks.metrics]]`) shows
// one column per header with its precision, the one that ranks marked. The values are each line's `columns`, by
// header; a hidden column never reaches a non-admin's page at all (the gateway takes it out).

import { formatMetric, h } from "./dom.js";

function order(sort) {
  return sort === "asc" ? "lower is better" : "higher is better";
}

/** The columns to show, in order: {name, label, metric, sort, precision, primary, tie_break, hidden}. */
export function shownColumns(board, info) {
  const columns = board?.columns || [];
  if (columns.length > 1) return columns.map((column) => ({ ...column, label: column.name }));
  const only = columns[0] || {};
  return [{ ...only, name: only.name, label: "Score", metric: only.metric || info?.metric, sort: only.sort ||
    info?.sort, precision: undefined, primary: true }];
}

/** A key that changes when the columns shown do (the table's header is built again then). */
export function columnsKey(columns) {
  return JSON.stringify(columns.map((c) => [c.name, c.label, c.precision, c.primary, c.hidden]));
}

/** A line's value of a column, with the column's precision ("–" where the line has none). */
export function columnValue(entry, column) {
  const value = entry?.columns?.[column.name] ?? (column.primary ? entry?.score : undefined);
  if (value === null || value === undefined) return "–";
  return column.precision === undefined ? formatMetric(column.metric, value) : Number(value).toFixed(column.precision);
}

/** The header cell of a column: its name, its metric and direction as a tooltip, the ranking one marked. */
export function columnHeader(column, several) {
  const roles = [several && column.primary ? "ranks the board" : "", column.tie_break ? "breaks ties" : "",
    column.hidden ? "hidden: hosts only" : ""].filter(Boolean);
  return h("th", { class: `metric-col${several && column.primary ? " primary" : ""}${column.hidden ? " hidden-col"
    : ""}`, scope: "col", title: [column.metric, order(column.sort), ...roles].filter(Boolean).join(", "),
  dataset: { column: column.name || "" } }, column.label, several && column.primary ? h("span", { class: "primary-mark",
    "aria-label": " (ranks the board)" }, " ★") : null);
}
