import { useState } from "react";
import { apiBase, session } from "./api/client";
import { useRoute } from "./router";
import { SignIn } from "./pages/SignIn";
import { AssistantsPage } from "./pages/Assistants";
import { AssistantEditor } from "./pages/AssistantEditor";
import { CallsPage } from "./pages/Calls";
import { CallPage } from "./pages/CallPage";
import { LiveView } from "./pages/LiveView";
import { CampaignsPage, CampaignPage } from "./pages/Campaigns";
import { NumbersPage } from "./pages/Numbers";
import { TrunksPage } from "./pages/Trunks";
import { ByokPage } from "./pages/Byok";
import { UsagePage } from "./pages/Usage";
import { EvalSuitePage, EvalSuitesPage } from "./pages/Evals";
import { EvalRunPage } from "./pages/EvalsRun";
import { WebhooksPage } from "./pages/Webhooks";

const NAV: [string, string][] = [
  ["assistants", "Assistants"],
  ["calls", "Calls"],
  ["campaigns", "Campaigns"],
  ["evals", "Evals"],
  ["numbers", "Numbers"],
  ["sip-trunks", "SIP trunks"],
  ["byok", "Provider keys"],
  ["webhooks", "Webhooks"],
  ["usage", "Usage"],
];

export function App() {
  const [signedIn, setSignedIn] = useState(() => session.key !== null);
  const route = useRoute();
  if (!signedIn) return <SignIn onSignedIn={() => setSignedIn(true)} />;
  const section = route[0] ?? "assistants";
  return (
    <div className="shell">
      <aside className="sidebar">
        <div className="brand">
          <span className="logo">◉</span> Voice console
        </div>
        <nav>
          <ul>
            {NAV.map(([path, label]) => (
              <li key={path}>
                <a href={`#/${path}`} className={section === path ? "active" : ""}>
                  {label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div className="sidebar-foot">
          <a href={`${apiBase()}/docs`} target="_blank" rel="noreferrer">
            API reference
          </a>
          <button
            className="outline secondary small"
            onClick={() => {
              session.signOut();
              setSignedIn(false);
            }}
          >
            Sign out
          </button>
        </div>
      </aside>
      <main className="content">{page(route)}</main>
    </div>
  );
}

function page(route: string[]) {
  const [section, id, sub] = route;
  switch (section) {
    case undefined:
    case "assistants":
      if (id === "new") return <AssistantEditor />;
      if (id && sub === "duplicate") return <AssistantEditor key={`${id}-dup`} sourceId={id} duplicate />;
      if (id && sub === "talk") return <AssistantEditor key={`${id}-talk`} sourceId={id} talk />;
      if (id) return <AssistantEditor key={id} sourceId={id} />;
      return <AssistantsPage />;
    case "calls":
      if (id && sub === "live") return <LiveView callId={id} />;
      if (id) return <CallPage callId={id} />;
      return <CallsPage />;
    case "campaigns":
      return id ? <CampaignPage campaignId={id} /> : <CampaignsPage />;
    case "evals":
      return id === "runs" && sub ? <EvalRunPage runId={sub} /> : id ? <EvalSuitePage suiteId={id} /> : <EvalSuitesPage />;
    case "numbers":
      return <NumbersPage />;
    case "sip-trunks":
      return <TrunksPage />;
    case "byok":
      return <ByokPage />;
    case "usage":
      return <UsagePage />;
    case "webhooks":
      return <WebhooksPage />;
    default:
      return <p>Unknown page.</p>;
  }
}
