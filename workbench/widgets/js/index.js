// The editor widget's entry point (an anywidget front-end module).
// The default export is called once per widget model: `initialize` makes the model's one
// Session (its graph), `render` a View (a canvas) of it per output area showing the widget.
import { mark } from "./timing.js"; // first: marks the start of the evaluation
import "@comfyorg/litegraph/style.css";
import "./style.css";
import { Session } from "./session.js";
import { View } from "./view.js";

mark("module-end");

export default () => {
  let session = null;
  return {
    initialize({ model }) {
      mark("initialize");
      session = new Session(model);
    },
    render({ model, el }) {
      mark("render");
      session ??= new Session(model);
      const view = new View(session, el);
      return () => view.dispose();
    },
  };
};
