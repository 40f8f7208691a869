// A minimal WebRTC phone on SIP.js 0.21 (its ES modules served as /sipjs/),
// driven by webrtc-call.test.ts through window.phone. SIP.js's default
// SessionDescriptionHandler makes the RTCPeerConnection and takes the
// microphone from getUserMedia (Chromium's fake device in the test).
import { Inviter, Registerer, RegistererState, SessionState, UserAgent } from '/sipjs/index.js';

/** every SIP message sent and received on the WebSocket, for failure reports */
const wire = [];
/** session states in order, per call */
const calls = [];
let ua;
let session;
let incoming;

const AUDIO_ONLY = { constraints: { audio: true, video: false } };

function track(s) {
  session = s;
  const states = [];
  calls.push(states);
  s.stateChange.addListener((state) => states.push(state));
}

function status(text) {
  document.getElementById('status').textContent = text;
}

window.phone = {
  /** Starts the UserAgent over ws and registers (digest auth); resolves when registered. */
  async start({ wsUrl, user, password, domain }) {
    ua = new UserAgent({
      uri: UserAgent.makeURI(`sip:${user}@${domain}`),
      transportOptions: { server: wsUrl, connectionTimeout: 5 },
      authorizationUsername: user,
      authorizationPassword: password,
      sessionDescriptionHandlerFactoryOptions: {
        peerConnectionConfiguration: { iceServers: [] },
        iceGatheringTimeout: 2000,
      },
      delegate: {
        onInvite(invitation) {
          incoming = invitation;
          track(invitation);
        },
      },
      logBuiltinEnabled: false,
      logLevel: 'error',
      userAgentString: `Switchboard WebRTC interop (${user})`,
    });
    const send = ua.transport.send.bind(ua.transport);
    ua.transport.send = (message) => {
      wire.push(`>>> ${message}`);
      return send(message);
    };
    await ua.start();
    ua.transport.ws.addEventListener('message', (e) => wire.push(`<<< ${e.data}`));
    const registerer = new Registerer(ua, { expires: 600 });
    const registered = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${user} not registered after 8 s`)), 8000);
      registerer.stateChange.addListener((state) => {
        if (state === RegistererState.Registered) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    await registerer.register();
    await registered;
    status(`registered as ${user}`);
    return ua.contact.uri.toString();
  },

  /** Sends an INVITE (audio offer); resolves when it is sent. */
  async call(target) {
    incoming = undefined;
    const inviter = new Inviter(ua, UserAgent.makeURI(target), { sessionDescriptionHandlerOptions: AUDIO_ONLY });
    track(inviter);
    await inviter.invite();
  },

  hasIncoming() {
    return incoming !== undefined && incoming.state === SessionState.Initial;
  },

  /** Answers the incoming call (200 with the audio answer). */
  async answer() {
    await incoming.accept({ sessionDescriptionHandlerOptions: AUDIO_ONLY });
  },

  /** BYE on the current call. */
  async hangup() {
    if (session.state !== SessionState.Established) throw new Error(`cannot hang up in state ${session.state}`);
    await session.bye();
  },

  /** The current call: session state, peer connection state and RTP counters. */
  async info() {
    const pc = session?.sessionDescriptionHandler?.peerConnection;
    const out = {
      session: session?.state ?? null,
      states: calls.length ? calls[calls.length - 1] : [],
      pc: pc?.connectionState ?? null,
      ice: pc?.iceConnectionState ?? null,
      packetsReceived: 0,
      packetsSent: 0,
      candidates: [],
    };
    if (pc && pc.connectionState !== 'closed') {
      const stats = await pc.getStats();
      stats.forEach((r) => {
        if (r.type === 'inbound-rtp' && r.kind === 'audio') out.packetsReceived += r.packetsReceived ?? 0;
        if (r.type === 'outbound-rtp' && r.kind === 'audio') out.packetsSent += r.packetsSent ?? 0;
        if (r.type === 'local-candidate') out.candidates.push(`${r.protocol} ${r.address}:${r.port} ${r.candidateType}`);
      });
    }
    return out;
  },

  wire() {
    return wire.slice();
  },

  async stop() {
    await ua?.stop();
  },
};
status('ready');
