// One WebSocket to `/ws` for the whole page: it follows every task's board and carries the team's own
// submission status, progress, queue position and Q&A changes, and (to everyone) a new competition version in use
// or a phase that opened or closed. Reconnects with backoff; boards are kept here,
// whole, with the deltas applied, so any view can render the latest one. Signed out (or for a projector) it is
// `/ws/boards`: boards only, no token; `{ publicOnly: true }` asks never to receive the private board.

import { accessToken, refreshTokens } from "./api.js";

export class Live {
  constructor({ publicOnly = false } = {}) {
    this.publicOnly = publicOnly;
    this.boards = new Map(); // task id -> {revision, sort, private_revealed, public: Map, private: Map|null, columns}
    this.listeners = new Set();
    this.following = new Set();
    this.socket = null;
    this.delay = 500;
    this.stopped = true;
    this.state = "closed";
  }

  on(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(message) {
    for (const listener of this.listeners) listener(message);
  }

  start(tasks) {
    this.stopped = false;
    for (const task of tasks) this.following.add(task);
    this.connect();
  }

  /** Follow these tasks' boards too (tasks a new competition version added); those followed already are kept. */
  follow(tasks) {
    const added = tasks.filter((task) => !this.following.has(task));
    for (const task of added) this.following.add(task);
    if (added.length && this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify({ follow: added }));
  }

  stop() {
    this.stopped = true;
    this.boards.clear();
    this.socket?.close();
    this.socket = null;
  }

  setState(state) {
    this.state = state;
    this.emit({ type: "connection", state });
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const token = this.publicOnly ? "" : accessToken();
    // The token travels as a subprotocol, never in the URL (which servers and proxies log).
    const socket = token ? new WebSocket(`${scheme}://${location.host}/ws`, ["podium", `bearer.${token}`])
      : new WebSocket(`${scheme}://${location.host}/ws/boards${this.publicOnly ? "?private=false" : ""}`, ["podium"]);
    this.socket = socket;
    socket.onopen = () => {
      this.delay = 500;
      this.setState("open");
      socket.send(JSON.stringify({ follow: [...this.following] }));
    };
    socket.onmessage = (event) => this.receive(JSON.parse(event.data));
    socket.onclose = async (event) => {
      if (this.socket !== socket) return;
      this.setState("closed");
      if (this.stopped) return;
      if (event.code === 4401) await refreshTokens(); // the token expired while we were away
      setTimeout(() => !this.stopped && this.socket === socket && this.connect(), this.delay);
      this.delay = Math.min(this.delay * 2, 10000);
    };
  }

  // Every message the socket sends (proto/live.py, its JSON Schema at /api/v1/live/schema.json) has its case here:
  // boards are kept; the team's own pushes and refusals go to the views that listen. A type this page does not know
  // (a newer gateway) is left alone.
  receive(message) {
    switch (message.type) {
      case "board":
        this.boards.set(message.task_id, {
          revision: message.revision,
          sort: message.sort,
          private_revealed: message.private_revealed,
          public: new Map(message.public.map((e) => [e.team_id, e])),
          private: message.private ? new Map(message.private.map((e) => [e.team_id, e])) : null,
          columns: message.columns || [], // the columns this viewer may see; a delta never changes them
        });
        break;
      case "board_delta": {
        const board = this.boards.get(message.task_id);
        if (!board) return; // a delta before its board: the next whole board will come
        board.revision = message.revision;
        board.private_revealed = message.private_revealed;
        apply(board.public, message.changed, message.moved, message.removed);
        if (message.private_changed) {
          board.private ??= new Map();
          apply(board.private, message.private_changed, message.private_moved, message.private_removed);
        }
        break;
      }
      case "submission":
      case "progress":
      case "queue":
      case "log":
      case "question":
      case "error":
      case "competition":
      case "phase":
        break;
      default:
        return;
    }
    this.emit(message);
  }

  board(taskId) {
    const board = this.boards.get(taskId);
    if (!board) return null;
    const ranked = (entries) => [...entries.values()].sort((a, b) => a.rank - b.rank);
    return { ...board, public: ranked(board.public), private: board.private ? ranked(board.private) : null };
  }
}

// changed: whole lines; moved: [team id, rank, rank_change] of lines that only changed places; removed: team ids.
function apply(entries, changed = [], moved = [], removed = []) {
  for (const teamId of removed) entries.delete(teamId);
  for (const entry of changed) entries.set(entry.team_id, entry);
  for (const [teamId, rank, rankChange] of moved) {
    const entry = entries.get(teamId);
    if (entry) entries.set(teamId, { ...entry, rank, rank_change: rankChange });
  }
}
