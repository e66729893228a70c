/**
 * Installs CustomResourceDefinitions into the store as an installer (Helm, `kubectl apply`) would:
 * through the CRD type, so the existing CRD machinery (api/crd.ts) serves the kinds, discovery
 * lists them and OpenAPI documents them. Also the one piece of structural-schema defaulting the
 * simulation relies on: a custom resource created without `status` gets the `default` its CRD
 * declares for `status` (Gateway API's "Waiting for controller" conditions), as kube-apiserver
 * defaults it on create.
 */
import type { KubeObject, ResourceType, Store } from '../store.ts';
import { CRD_GROUP, CRD_PLURAL, findCrd, isCrdType } from '../api/crd.ts';
import { cloneJson } from '../clone.ts';

/** Creates the CRDs that do not exist yet; existing ones (an upgrade by someone else) stay as they are. */
export function installCrds(store: Store, crds: readonly KubeObject[]): void {
  const crdType = store.findType(CRD_GROUP, CRD_PLURAL);
  if (!crdType) throw new Error('sandbox: CustomResourceDefinitions are not served (call registerBuiltins first)');
  for (const crd of crds) {
    if (!store.tryGet(crdType, undefined, crd.metadata.name ?? '')) store.create(crdType, undefined, crd);
  }
}

type VersionSchema = {
  name?: string;
  schema?: { openAPIV3Schema?: { properties?: { status?: { default?: unknown } } } };
};

function statusDefault(crd: KubeObject, version: string): unknown {
  const versions = ((crd.spec as { versions?: VersionSchema[] } | undefined)?.versions ?? []) as VersionSchema[];
  return versions.find((v) => v.name === version)?.schema?.openAPIV3Schema?.properties?.status?.default;
}

/** Registers the create hook that applies a CRD's `status` default to new custom resources. */
export function installStatusDefaults(store: Store): void {
  store.addCreateHook((resource: ResourceType, object: KubeObject) => {
    if (resource.group === '' || isCrdType(resource) || object.status !== undefined) return object;
    const crd = findCrd(store, resource);
    if (!crd) return object;
    const defaults = statusDefault(crd, resource.version);
    return defaults === undefined ? object : { ...object, status: cloneJson(defaults) };
  });
}
