/**
 * The simulated kubelets (one per node, folded into one object): a pod bound to a node starts
 * after `startLatencyMs` of simulated time and becomes Running and Ready, with container
 * statuses as the real kubelet reports them. A readiness override (faults: a crashed istiod)
 * keeps pods not Ready; an unpullable image (`auto`, a gateway nobody injected) keeps a pod
 * Pending in ImagePullBackOff, which is what happens on a real cluster.
 *
 * Termination: a pod marked for deletion (deletionTimestamp) keeps running, listed as
 * Terminating, until its containers have stopped: `stopLatencyMs` of simulated time after the
 * delete (how long the processes take to exit on SIGTERM), never later than the deletion's grace
 * period (terminationGracePeriodSeconds, default 30 s, when the kubelet kills them). Then the
 * kubelet deletes it for good (grace period 0); finalizers, if any, still hold it.
 */
import type { Clock } from '../clock.ts';
import type { KubeObject, Store } from '../store.ts';
import { isoSeconds } from '../time.ts';
import type { SimTypes } from './resource-types.ts';

type Container = { name: string; image?: string; restartPolicy?: string };
type PodSpec = { nodeName?: string; containers?: Container[]; initContainers?: Container[]; hostNetwork?: boolean };

/** Returns false to hold a pod not Ready (e.g. the istiod of a crashed revision). */
export type ReadinessGate = (pod: KubeObject) => boolean;

export type Kubelet = {
  /** A pod was created: schedule its start. */
  podAdded(pod: KubeObject): void;
  /** Re-evaluates readiness of running pods in a namespace (after a fault changed). */
  refresh(namespace: string, pods: KubeObject[]): void;
  /** A pod was marked for deletion: stop it, then remove it. */
  podTerminating(pod: KubeObject): void;
  /** Pods waiting to start. */
  pending(): number;
  /** Pods marked for deletion whose containers have not stopped yet. */
  terminating(): number;
  setStartLatency(ms: number): void;
  startLatency(): number;
};

export function createKubelet(options: {
  store: Store;
  types: SimTypes;
  clock: Clock;
  startLatencyMs: number;
  stopLatencyMs: number;
  readiness: ReadinessGate;
  nodes: readonly string[];
}): Kubelet {
  const { store, types, clock, readiness } = options;
  let latency = options.startLatencyMs;
  let pendingStarts = 0;
  const stopping = new Set<string>(); // uids being terminated
  let ipCounter = 0;
  const nodeIps = new Map(options.nodes.map((node, i) => [node, `172.18.0.${i + 2}`]));

  function nextPodIp(): string {
    ipCounter++;
    return `10.244.${Math.floor(ipCounter / 250) % 256}.${(ipCounter % 250) + 2}`;
  }

  function containerStatuses(
    containers: Container[] | undefined,
    ready: boolean,
    startedAt: string,
    sidecarsOnly: boolean,
  ) {
    return (containers ?? [])
      .filter((c) => !sidecarsOnly || c.restartPolicy === 'Always')
      .map((c) => ({
        name: c.name,
        image: c.image ?? '',
        imageID: `${c.image ?? ''}@sha256:${'0'.repeat(64)}`,
        containerID: `containerd://${c.name}`,
        ready,
        started: true,
        restartCount: 0,
        state: { running: { startedAt } },
      }));
  }

  function runningStatus(pod: KubeObject, ready: boolean): Record<string, unknown> {
    const spec = (pod.spec ?? {}) as PodSpec;
    const previous = (pod.status ?? {}) as { podIP?: string; startTime?: string };
    const now = isoSeconds(clock.now());
    const startTime = previous.startTime ?? now;
    const podIP = spec.hostNetwork
      ? (nodeIps.get(spec.nodeName ?? '') ?? '172.18.0.2')
      : (previous.podIP ?? nextPodIp());
    const flag = ready ? 'True' : 'False';
    const conditions = [
      { type: 'PodReadyToStartContainers', status: 'True', lastTransitionTime: startTime },
      { type: 'Initialized', status: 'True', lastTransitionTime: startTime },
      {
        type: 'Ready',
        status: flag,
        lastTransitionTime: now,
        ...(ready ? {} : { reason: 'ContainersNotReady', message: 'containers with unready status: [discovery]' }),
      },
      { type: 'ContainersReady', status: flag, lastTransitionTime: now },
      { type: 'PodScheduled', status: 'True', lastTransitionTime: startTime },
    ];
    const status: Record<string, unknown> = {
      phase: 'Running',
      conditions,
      hostIP: nodeIps.get(spec.nodeName ?? '') ?? '172.18.0.2',
      podIP,
      podIPs: [{ ip: podIP }],
      startTime,
      qosClass: 'BestEffort',
      containerStatuses: containerStatuses(spec.containers, ready, startTime, false),
    };
    const sidecars = containerStatuses(spec.initContainers, ready, startTime, true);
    if ((spec.initContainers ?? []).length > 0) {
      status.initContainerStatuses = [
        ...(spec.initContainers ?? [])
          .filter((c) => c.restartPolicy !== 'Always')
          .map((c) => ({
            name: c.name,
            image: c.image ?? '',
            ready: true,
            started: false,
            restartCount: 0,
            state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: startTime, finishedAt: startTime } },
          })),
        ...sidecars,
      ];
    }
    return status;
  }

  function imagePullBackOff(pod: KubeObject): Record<string, unknown> | undefined {
    const spec = (pod.spec ?? {}) as PodSpec;
    const bad = [...(spec.containers ?? []), ...(spec.initContainers ?? [])].find((c) => c.image === 'auto');
    if (!bad) return undefined;
    const now = isoSeconds(clock.now());
    return {
      phase: 'Pending',
      conditions: [
        {
          type: 'Ready',
          status: 'False',
          lastTransitionTime: now,
          reason: 'ContainersNotReady',
          message: `containers with unready status: [${bad.name}]`,
        },
        { type: 'PodScheduled', status: 'True', lastTransitionTime: now },
      ],
      hostIP: nodeIps.get(spec.nodeName ?? '') ?? '172.18.0.2',
      startTime: now,
      qosClass: 'BestEffort',
      containerStatuses: (spec.containers ?? []).map((c) => ({
        name: c.name,
        image: c.image ?? '',
        imageID: '',
        ready: false,
        started: false,
        restartCount: 0,
        state:
          c.image === 'auto'
            ? { waiting: { reason: 'ImagePullBackOff', message: `Back-off pulling image "auto"` } }
            : { waiting: { reason: 'PodInitializing' } },
      })),
    };
  }

  function start(namespace: string, name: string, uid: string): void {
    pendingStarts--;
    const pod = store.tryGet(types.pods, namespace, name);
    if (!pod || pod.metadata.uid !== uid || pod.metadata.deletionTimestamp) return;
    const status = imagePullBackOff(pod) ?? runningStatus(pod, readiness(pod));
    store.update(types.pods, namespace, { ...pod, status }, { subresource: 'status' });
  }

  function finishTermination(namespace: string, name: string, uid: string): void {
    stopping.delete(uid);
    const pod = store.tryGet(types.pods, namespace, name);
    if (!pod || pod.metadata.uid !== uid) return;
    // The containers have stopped: the kubelet's final delete, with no grace period left.
    store.delete(types.pods, namespace, name, { gracePeriodSeconds: 0, preconditions: { uid } });
  }

  let nextNode = 0;
  return {
    podAdded(pod) {
      const namespace = pod.metadata.namespace ?? '';
      const name = pod.metadata.name ?? '';
      const uid = pod.metadata.uid ?? '';
      const phase = (pod.status as { phase?: string } | undefined)?.phase;
      if (phase === 'Running' || phase === 'Succeeded' || phase === 'Failed') return;
      const spec = (pod.spec ?? {}) as PodSpec;
      if (!spec.nodeName && options.nodes.length > 0) {
        // The scheduler's job for bare pods: bind to a node (round robin), through pods/binding.
        const node = options.nodes[nextNode++ % options.nodes.length] ?? '';
        store.update(types.pods, namespace, { ...pod, spec: { ...spec, nodeName: node } }, { subresource: 'binding' });
      }
      pendingStarts++;
      clock.after(latency, () => start(namespace, name, uid));
    },
    refresh(_namespace, pods) {
      for (const pod of pods) {
        const phase = (pod.status as { phase?: string } | undefined)?.phase;
        if (phase !== 'Running') continue;
        const ready = readiness(pod);
        const current =
          (pod.status as { conditions?: { type: string; status: string }[] }).conditions?.find(
            (c) => c.type === 'Ready',
          )?.status === 'True';
        if (ready !== current) {
          store.update(
            types.pods,
            pod.metadata.namespace,
            { ...pod, status: runningStatus(pod, ready) },
            { subresource: 'status' },
          );
        }
      }
    },
    podTerminating(pod) {
      const uid = pod.metadata.uid ?? '';
      if (stopping.has(uid) || !pod.metadata.deletionTimestamp) return;
      stopping.add(uid);
      // The kubelet kills the containers `deletionGracePeriodSeconds` after it sees the deletion.
      const graceMs = (pod.metadata.deletionGracePeriodSeconds ?? 0) * 1000;
      const namespace = pod.metadata.namespace ?? '';
      const name = pod.metadata.name ?? '';
      clock.after(Math.min(graceMs, options.stopLatencyMs), () => finishTermination(namespace, name, uid));
    },
    pending: () => pendingStarts,
    terminating: () => stopping.size,
    setStartLatency(ms) {
      latency = ms;
    },
    startLatency: () => latency,
  };
}
