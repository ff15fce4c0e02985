"use strict";
// The change feed, shared by every page that follows it. Read with fetch rather than
// EventSource: fetch can send the token of a protected server. It starts from the revision
// served when it is called (/health needs no token), so a revision made before the stream
// is connected (or the token typed in) is not missed, and reconnects after a second with
// Last-Event-ID. `onRevision(record)` runs for each revision the stream reports.
function followRevisions(onRevision) {
  async function follow(last) {
    const token = sessionStorage.getItem("meshctl-token");
    const headers = {Accept: "text/event-stream"};
    if (token) headers.Authorization = `Bearer ${token}`;
    if (last !== null) headers["Last-Event-ID"] = String(last);
    try {
      const response = await fetch("/registries/events", {headers});
      if (!response.ok) throw new Error(String(response.status));
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const {value, done} = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const id = /^id: (\d+)$/m.exec(event);
          const data = /^data: (.*)$/m.exec(event);
          if (id) last = Number(id[1]);
          if (data) onRevision(JSON.parse(data[1]));
        }
      }
    } catch (error) { /* the server went away: try again below */ }
    setTimeout(() => follow(last), 1000);
  }
  fetch("/health").then(response => response.json())
    .then(health => follow(health.revision), () => follow(null));
}
