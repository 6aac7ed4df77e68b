/** @jsxImportSource hono/jsx/dom */
/// <reference lib="dom" />
import { render, useEffect, useState } from "hono/jsx/dom";

function App() {
  const [n, setN] = useState(0);
  useEffect(() => {
    document.title = String(n);
    sessionStorage.setItem("x", "1");
  }, [n]);
  return (
    <div>
      <button type="button" onClick={() => setN(n + 1)}>
        {n}
      </button>
    </div>
  );
}
render(<App />, document.getElementById("root")!);
