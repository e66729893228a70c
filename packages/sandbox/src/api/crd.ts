/**
 * CustomResourceDefinitions: storing a CRD makes its kind served, as on a real cluster, so
 * Istio's own kinds (VirtualService, IstioOperator...) can be applied, listed and discovered.
 * The store keys objects by group and plural, so every served version shares one bucket; the
 * storage version is the registered type and other versions are served by rewriting apiVersion
 * (the `None` conversion strategy every Istio CRD uses).
 */
import type { KubeObject, ResourceType, Store } from '../store.ts';

export const CRD_GROUP = 'apiextensions.k8s.io';
export const CRD_PLURAL = 'customresourcedefinitions';

type CrdVersion = {
  name?: string;
  served?: boolean;
  storage?: boolean;
  subresources?: { status?: unknown; scale?: unknown };
  additionalPrinterColumns?: PrinterColumn[];
};

export type PrinterColumn = {
  name: string;
  type: string;
  jsonPath: string;
  description?: string;
  priority?: number;
  format?: string;
};

type CrdSpec = {
  group?: string;
  scope?: string;
  names?: {
    plural?: string;
    singular?: string;
    kind?: string;
    shortNames?: string[];
    categories?: string[];
    listKind?: string;
  };
  versions?: CrdVersion[];
};

export function isCrdType(type: Pick<ResourceType, 'group' | 'plural'>): boolean {
  return type.group === CRD_GROUP && type.plural === CRD_PLURAL;
}

function specOf(crd: KubeObject): CrdSpec {
  return (crd.spec ?? {}) as CrdSpec;
}

/** The type a CRD declares, registered at its storage version; undefined when malformed. */
export function crdResourceType(crd: KubeObject): ResourceType | undefined {
  const spec = specOf(crd);
  const names = spec.names ?? {};
  const versions = spec.versions ?? [];
  const storage = versions.find((v) => v.storage) ?? versions.find((v) => v.served);
  if (!spec.group || !names.plural || !names.kind || !storage?.name) return undefined;
  const type: ResourceType = {
    group: spec.group,
    version: storage.name,
    kind: names.kind,
    plural: names.plural,
    singular: names.singular || names.kind.toLowerCase(),
    namespaced: spec.scope !== 'Cluster',
    hasSpec: true,
    generation: 'nonMetadata',
  };
  if (names.shortNames?.length) type.shortNames = [...names.shortNames];
  if (names.categories?.length) type.categories = [...names.categories];
  if (storage.subresources?.status !== undefined) type.subresources = ['status'];
  return type;
}

/** Served version names of a CRD, in declaration order. */
export function crdServedVersions(crd: KubeObject): string[] {
  return (specOf(crd).versions ?? []).filter((v) => v.served !== false && v.name).map((v) => v.name as string);
}

export function crdPrinterColumns(crd: KubeObject, version: string): PrinterColumn[] {
  return specOf(crd).versions?.find((v) => v.name === version)?.additionalPrinterColumns ?? [];
}

export function crdName(type: Pick<ResourceType, 'group' | 'plural'>): string {
  return `${type.plural}.${type.group}`;
}

/** The CRD that declares a type, if the type is a custom resource. */
export function findCrd(store: Store, type: Pick<ResourceType, 'group' | 'plural'>): KubeObject | undefined {
  if (type.group === '') return undefined;
  const crdType = store.findType(CRD_GROUP, CRD_PLURAL);
  return crdType ? store.tryGet(crdType, undefined, crdName(type)) : undefined;
}

/** What the apiextensions controller writes on a fresh CRD: names accepted, established. */
function withInitialStatus(crd: KubeObject, now: string): KubeObject {
  const spec = specOf(crd);
  const storage = (spec.versions ?? []).find((v) => v.storage)?.name;
  const condition = (type: string, reason: string, message: string) => ({
    type,
    status: 'True',
    lastTransitionTime: now,
    reason,
    message,
  });
  return {
    ...crd,
    status: {
      conditions: [
        condition('NamesAccepted', 'NoConflicts', 'no conflicts found'),
        condition('Established', 'InitialNamesAccepted', 'the initial names have been accepted'),
      ],
      acceptedNames: { ...(spec.names ?? {}) },
      storedVersions: storage ? [storage] : [],
    },
  };
}

/**
 * Keeps served types in step with stored CRDs. `isProtected` guards built-in types: a CRD
 * cannot shadow `deployments.apps`.
 */
export function installCrdSync(store: Store, isProtected: (type: ResourceType) => boolean = () => false): void {
  const sync = (crd: KubeObject) => {
    const type = crdResourceType(crd);
    if (type && !isProtected(type)) store.registerType(type);
  };
  store.addCreateHook((resource, object) =>
    isCrdType(resource)
      ? withInitialStatus(
          object,
          store
            .now()
            .toISOString()
            .replace(/\.\d{3}Z$/, 'Z'),
        )
      : object,
  );
  const crdType = store.findType(CRD_GROUP, CRD_PLURAL);
  if (crdType) for (const crd of store.list(crdType).items) sync(crd);
  store.watch(undefined, (event) => {
    if (!isCrdType(event.resource)) return;
    if (event.type === 'DELETED') {
      const type = crdResourceType(event.object);
      if (type && !isProtected(type)) store.unregisterType(type);
      return;
    }
    const before = event.previous ? crdResourceType(event.previous) : undefined;
    const after = crdResourceType(event.object);
    // A renamed plural or group leaves the old type behind otherwise.
    if (before && (!after || before.group !== after.group || before.plural !== after.plural) && !isProtected(before))
      store.unregisterType(before);
    sync(event.object);
  });
}
