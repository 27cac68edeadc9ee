// The kernel <-> canvas messages (docs/editor-protocol.md); Python side: ../protocol.py.

/** Bump on any change of a message's shape, here and in protocol.py. */
export const PROTOCOL = 2;

/**
 * @typedef {{class_type: string, inputs: Object<string, any>, ui: Object<string, any>,
 *            control: Object<string, string>}} NodeState
 * @typedef {{version: number, revision: number, nodes: Object<string, NodeState>}} Snapshot
 * @typedef {{name: string, type: (string|string[]), kind: ("widget"|"link"), control: boolean,
 *            required: boolean, options: Object<string, any>, tooltip: string}} InputDef
 * @typedef {{name: string, display_name: string, category: string, description: string,
 *            output_node: boolean, inputs: InputDef[],
 *            outputs: {name: string, type: string, is_list: boolean, tooltip: string}[]}} NodeDef
 *
 * Canvas -> kernel:
 * @typedef {{type: "hello", protocol: number, revision: ?number}} Hello
 * @typedef {{type: "edit", seq: number, ops: Object[]}} Edit
 * @typedef {{type: "selection", nodes: string[]}} Selection
 * @typedef {{type: "run", number?: number, front?: boolean, selected?: boolean}} RunRequest
 * @typedef {{type: "cancel", job: string}} Cancel
 *
 * Kernel -> canvas (`graph` null: the view's session has it, see Hello's revision):
 * @typedef {{type: "state", protocol: number, graph: ?Snapshot, status: Object, errors: ?Object}} State
 * @typedef {{state: ("idle"|"running"|"cached"|"ran"|"error"), progress?: number, ms?: number,
 *            message?: string}} NodeStatus
 * @typedef {{type: "status", job: ?string, running: ?string, reset?: boolean,
 *            nodes: Object<string, NodeStatus>}} Status
 * @typedef {{id: string, number: number, status: string, after?: ?string, label?: string}} QueueEntry
 * @typedef {{type: "queue", added: QueueEntry[], changed: QueueEntry[], removed: string[]}} QueueDelta
 * @typedef {{id: string, number: number, status: string, ms: ?number,
 *            seeds: Object<string, Object>, executed: number, cached: number}} HistoryEntry
 * @typedef {{type: "preview", node: string, kind: ("output"|"progress"), mime: string,
 *            count: number}} Preview
 * @typedef {{type: "errors", message: string,
 *            nodes: Object<string, {message: string, inputs: string[]}>}} Errors
 */
